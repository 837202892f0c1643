# Loss against steps and against CPU seconds, from teleport_acceleration.cpp; called with -e "outdir='...'".
set datafile separator ','
set terminal pngcairo size 1400,900 noenhanced
set output outdir.'/teleport_acceleration.png'
set multiplot layout 2,2
set logscale y
set key top right font ',9'
set grid
optimizers = 'gd momentum adam'
variants = 'none once every'
colour(o) = o eq 'gd' ? '#1b9e77' : (o eq 'momentum' ? '#d95f02' : '#7570b3')
dash(v) = v eq 'none' ? 1 : (v eq 'once' ? 2 : 3)
pick(p, o, v, col) = (strcol(1) eq p && strcol(2) eq o && strcol(3) eq v) ? column(col) : 1/0
do for [p in 'regression fashion_mnist'] {
  set title p.': loss against steps'
  set xlabel 'step'
  set ylabel p eq 'regression' ? 'mean-squared error' : 'softmax cross-entropy'
  plot for [o in optimizers] for [v in variants] outdir.'/curves.csv' using 4:(pick(p, o, v, 6)) skip 1 \
       with lines lw 2 dt dash(v) lc rgb colour(o) title o.' / '.v
  set title p.': loss against CPU seconds (teleports included)'
  set xlabel 'CPU seconds'
  plot for [o in optimizers] for [v in variants] outdir.'/curves.csv' using (pick(p, o, v, 5)):(pick(p, o, v, 6)) skip 1 \
       with lines lw 2 dt dash(v) lc rgb colour(o) title o.' / '.v
}
unset multiplot
