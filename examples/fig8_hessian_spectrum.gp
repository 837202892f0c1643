# Figure 8 from fig8_hessian_spectrum.cpp; called with -e "outdir='...'".
# fig8_hessian_spectrum.png: histograms of the nonzero Hessian eigenvalues, one panel per activation,
# one colour per initial scale s (legend: s, Q of eq. (48) at the start, and how many eigenvalues
# were zero); for --published (published = 1) what the reference code plots: the eigenvalues >= 1e-3
# of the Hessian of ||Y - F||^2 (twice those in the CSV) in bins of 4 from 1e-3, legends its Q at the
# start. fig8_scalar.png: G.1, eigenvalues at the minimum against Q with the closed form.
load outdir.'/fig8_series.gp'
set datafile separator ','
set terminal pngcairo size 1400,1000 noenhanced font 'Sans,13'
set output outdir.'/fig8_hessian_spectrum.png'
file = outdir.'/fig8_eigenvalues.csv'
stats file using 5 skip 1 nooutput
bins = 60.0
# published: the Hessian of ||Y - F||^2 is twice the CSV's; bins [0.001 + 4j, 0.001 + 4(j + 1)).
factor = published ? 2.0 : 1.0
width = published ? 4.0 : STATS_max / bins
origin = published ? published_cut : 0.0
bin(x) = origin + width * (floor((x - origin) / width) + 0.5)
rows = (panels + 1) / 2
if (published) {
  set multiplot layout rows,2 title "Figure 8 as published: eigenvalues >= ".sprintf('%g', published_cut)." of the Hessian of ||Y - F||^2 at the point reached in float32, ".sizes."\n(PyTorch draws, seed 12345; the code's Q at the start: 2Q, 2Q, 2Q - hn, Q - hn)"
} else {
set multiplot layout rows,2 title "Figure 8: eigenvalues of the exact Hessian of 1/2 ||Y - F||^2 at the minimum reached, ".sizes."\n(|eigenvalue| <= ".sprintf('%g', zero_tolerance)." left out; Q of eq. (48) at the start)"
}
set style fill transparent solid 0.45 noborder
set boxwidth width
set xlabel (published ? 'Hessian eigenvalue (loss ||Y - F||^2)' : 'Hessian eigenvalue (loss 1/2 ||Y - F||^2)')
set ylabel 'count'
set key top right
set grid
set xrange [0:factor * STATS_max * 1.02]
set yrange [0:*]
series(a, k) = (a - 1) * series_per_panel + k
keep(a, k) = strcol(1) eq value('activation_'.a) && abs($2 / value('scale_'.series(a, k)) - 1) < 1e-9 && (published ? factor * $5 >= published_cut : abs($5) > zero_tolerance)
do for [a = 1:panels] {
  set title value('activation_'.a)
  plot for [k = 1:series_per_panel] file skip 1 using (keep(a, k) ? bin(factor * $5) : 1/0):(1.0) smooth frequency with boxes \
       title (published ? sprintf('s = %g, Q = %s', value('scale_'.series(a, k)), value('code_q0_'.series(a, k))) \
                        : sprintf('s = %g, Q = %s (%d zero)', value('scale_'.series(a, k)), value('q0_'.series(a, k)), value('zeros_'.series(a, k))))
}
unset multiplot

set output outdir.'/fig8_scalar.png'
set terminal pngcairo size 1000,650 noenhanced font 'Sans,13'
set title 'G.1: Hessian of 1/2 (1 - u v)^2 at the minimum reached by gradient descent from Q = u^2 - v^2'
set xlabel 'Q = u^2 - v^2 at the minimum'
set ylabel 'Hessian eigenvalue'
set key top center
set xrange [*:*]
set yrange [-0.5:*]
set samples 400
plot 2 * sqrt(x**2 + 4) with lines dt 2 lw 2 lc rgb '#999999' title 'paper eq. (77): 2 sqrt(Q^2 + 4)', \
     sqrt(x**2 + 4) with lines lw 2 lc rgb '#1f77b4' title 'closed form: sqrt(Q^2 + 4)', \
     0 with lines lw 2 lc rgb '#2ca02c' title 'closed form: 0', \
     outdir.'/fig8_scalar.csv' skip 1 using 2:10 with points pt 7 ps 1.3 lc rgb '#d62728' title 'measured, larger', \
     outdir.'/fig8_scalar.csv' skip 1 using 2:9 with points pt 9 ps 1.3 lc rgb '#ff7f0e' title 'measured, smaller'
