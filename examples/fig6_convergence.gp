# Figure 6 from fig6_convergence.cpp; called with -e "outdir='...'".
# fig6_convergence.png: one panel per activation, one curve per initial scale s (legend: s and the
# conserved Q of eq. (48) at the start). fig6_fixed_function.png: for identity and ReLU, three runs
# from one function moved along its symmetry orbit to the same three values of Q (solid), beside the
# runs of the first figure with those values of Q (dashed). For --published (published = 1) the panels
# show what the reference code plots: ‖Y − F‖_F, with its Q at the start in the legends.
load outdir.'/fig6_series.gp'
set datafile separator ','
set terminal pngcairo size 1400,1000 noenhanced font 'Sans,13'
set output outdir.'/fig6_convergence.png'
rows = (panels + 1) / 2
if (published) {
  set multiplot layout rows,2 title 'Figure 6 as published: float32, PyTorch draws (seed 12345) at three scales s, lr '.learning_rate.'; the code''s Q at the start (2Q, 2Q, 2Q - 500, Q - 500 of eq. 48)'
} else {
  set multiplot layout rows,2 title 'Figure 6: gradient descent (lr '.learning_rate.') from three scales s of one draw, X = I, Y in R^{5x10}, hidden 50; Q of eq. (48) at the start'
}
column_y = published ? 6 : 5
legend_q(i) = published ? value('code_q0_'.i) : value('q0_'.i)
set logscale y
set format y '%.0e'
set xlabel 'training step'
set ylabel (published ? '||Y - F||_F' : 'loss: '.loss_label)
set key top right
set grid
set format x '%g'
set xrange [0:*]
file = outdir.'/fig6_convergence.csv'
# Run i has the data rows first_i .. last_i of the file (fig6_series.gp): `every` picks them
# without parsing the others.
first(i) = value('first_'.i)
last(i) = value('last_'.i)
series(a, k) = (a - 1) * series_per_panel + k
do for [a = 1:panels] {
  act = value('activation_'.a)
  set title act
  set xtics 0, value('steps_'.series(a, 1)) / 4
  plot for [k = 1:series_per_panel] file skip 1 every ::first(series(a, k))::last(series(a, k)) using 4:column_y \
       with lines lw 2.5 title sprintf('s = %g, Q = %s', value('scale_'.series(a, k)), legend_q(series(a, k)))
}
unset multiplot

if (orbit_panels > 0) {
  set terminal pngcairo size 1400,560 noenhanced font 'Sans,13'
  set output outdir.'/fig6_fixed_function.png'
  set multiplot layout 1,orbit_panels title sprintf('One initial function (s = %g) moved along its symmetry orbit to three values of Q (solid), beside the scaled draws with the same Q (dashed)', reference_scale)
  orbit_series(a, k) = panels * series_per_panel + (a - 1) * series_per_panel + k
  do for [a = 1:orbit_panels] {
    act = value('orbit_activation_'.a)
    set xtics 0, value('steps_'.orbit_series(a, 1)) / 4
    set title act.sprintf(': every solid curve starts at loss %s', value('loss0_'.orbit_series(a, 1)))
    # The first figure's run with the same Q: same activation, same scale label.
    twin(a, k) = sum [j = 1:panels] (value('activation_'.j) eq act ? series(j, k) : 0)
    plot for [k = 1:series_per_panel] file skip 1 every ::first(orbit_series(a, k))::last(orbit_series(a, k)) using 4:5 \
         with lines lw 2.5 lc k title sprintf('Q = %s', value('q0_'.orbit_series(a, k))), \
         for [k = 1:series_per_panel] file skip 1 every ::first(twin(a, k))::last(twin(a, k)) using 4:5 \
         with lines lw 1.5 dt 2 lc k title sprintf('scaled draw s = %g', value('scale_'.twin(a, k)))
  }
  unset multiplot
}
