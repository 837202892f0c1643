# Loss and layer imbalance of two_layer_imbalance.cpp; called with -e "outdir='...'".
set datafile separator ','
set terminal pngcairo size 1000,420 noenhanced
set output outdir.'/imbalance.png'
set multiplot layout 1,2
set xlabel 'step'
set xrange [0:*] noextend
set xtics 500
set logscale y
set ylabel 'loss (1/2 ||Y - UVX||^2)'
plot outdir.'/imbalance.csv' using 1:2 skip 1 with lines lw 2 title 'loss'
unset logscale y
set ylabel 'Tr[U^T U - V V^T]'
set format y '%.6f'
plot outdir.'/imbalance.csv' using 1:3 skip 1 with lines lw 2 title 'imbalance'
unset multiplot
