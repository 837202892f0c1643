# λ_max along the searches of flattest_minimum.cpp; called with -e "outdir='...'".
set datafile separator ','
set terminal pngcairo size 1500,450 noenhanced font ",10"
set output outdir.'/flattest_minimum.png'
set multiplot layout 1,3
set logscale y
set grid
set key bottom right font ',9'
set xlabel 'step of the search along the orbit'
set ylabel 'top Hessian eigenvalue'
# The Fashion-MNIST classifier has one run (init scale 0): drawn once, with the first c.
pick(p, s, c, col) = (strcol(1) eq p && strcol(3) eq s && (p eq 'fashion_mnist' ? c == 0.1 : abs(column(2) - c) < 1e-9)) ? column(col) : 1/0
do for [p in 'linear_gl50 leaky_relu_scaling50 fashion_mnist'] {
  set title p.': flattest and sharpest point, same function'
  plot for [s in 'flattest sharpest'] for [c in '0.1 0.5'] outdir.'/search.csv' using 4:(pick(p, s, c + 0, 5)) skip 1 \
       with linespoints lw 2 pt 7 ps 0.5 dt 1 + (s eq 'sharpest') title s.(p eq 'fashion_mnist' ? '' : ' (init '.c.')')
}
unset multiplot
