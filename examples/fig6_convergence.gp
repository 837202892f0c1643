# Figure 6 from fig6_convergence.cpp: one panel per activation, one curve per initial scale s
# (legend: s and the conserved Q of eq. (48) at the start). Called with -e "outdir='...'".
load outdir.'/fig6_series.gp'
set datafile separator ','
set terminal pngcairo size 1400,1000 noenhanced font 'Sans,13'
set output outdir.'/fig6_convergence.png'
rows = (panels + 1) / 2
set multiplot layout rows,2 title 'Figure 6: gradient descent (lr '.learning_rate.') from three scales s of one draw, X = I, Y in R^{5x10}, hidden 50; Q of eq. (48) at the start'
set logscale y
set format y '%.0e'
set xlabel 'training step'
set ylabel 'loss: '.loss_label
set key top right
set grid
set format x '%g'
set xrange [0:*]
file = outdir.'/fig6_convergence.csv'
# Row filter: activation a, curve k of that panel.
series(a, k) = (a - 1) * series_per_panel + k
keep(a, k) = strcol(1) eq value('activation_'.a) && abs($2 / value('scale_'.series(a, k)) - 1) < 1e-9
do for [a = 1:panels] {
  set title value('activation_'.a)
  plot for [k = 1:series_per_panel] file skip 1 using (keep(a, k) ? $3 : 1/0):(keep(a, k) ? $4 : 1/0) \
       with lines lw 2.5 title sprintf('s = %g, Q = %s', value('scale_'.series(a, k)), value('q0_'.series(a, k)))
}
unset multiplot
