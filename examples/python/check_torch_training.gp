# Drift of ΣQ along PyTorch's SGD against the bound of eq. (35), and the orbit dimension;
# called by check_torch_training.py with -e "outdir='...'".
set datafile separator ','
set terminal pngcairo size 1000,420 noenhanced
set output outdir.'/drift.png'
set multiplot layout 1,2
set xlabel 'SGD step (PyTorch)'
set key top left
set logscale x
set xrange [1:*] noextend
set logscale y
set format y '%.0e'
set ylabel '|sum Q_t - sum Q_0|'
plot outdir.'/drift.csv' using 1:4 skip 1 with lines lw 2 title 'drift (symflow)', \
     '' using 1:5 skip 1 with lines lw 2 dt 2 title 'eta^2 sum ||grad L||^2 (eq. 35)'
unset logscale y
set format y '%g'
set ylabel 'orbit dimension of (R>0)^50'
set yrange [0:55]
plot outdir.'/drift.csv' using 1:6 skip 1 with linespoints lw 2 pt 7 ps 0.5 title 'dim G.theta'
unset multiplot
