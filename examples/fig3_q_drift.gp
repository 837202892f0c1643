# Figure 3 from fig3_q_drift.cpp; called with -e "outdir='...'".
# One column per activation, one line per learning rate. Top: the drift of the normalised conserved
# quantity, delta Q~(t) = Q~(t) - Q~(0), against the step, as the paper plots it. Middle: |delta Q~|
# on logarithmic axes, where O(lr^2) per step (slope 1) and the O(lr) plateau after convergence show.
# Bottom: the loss.
set datafile separator ','
set terminal pngcairo size 1800,1250 font ',13' noenhanced
set output outdir.'/q_drift.png'

data = outdir.'/drift.csv'
summary = outdir.'/drift_summary.csv'
# The loss convention the runs used (column 4 of the summary: mse or half).
stats summary using (convention = strcol(4), 0) skip 1 nooutput
loss_label = (convention eq 'mse') ? 'loss (1/(m k)) ||Y - F||^2' : 'loss 1/2 ||Y - F||^2'
# symflow's configuration or the reference code's (--published: its draws, its Q), and the arithmetic.
stats summary using (configuration = strcol(13), dtype = strcol(15), 0) skip 1 nooutput
q_label = (configuration eq 'published') ? sprintf("delta Q~ of the code's Q, %s", dtype) : 'delta Q~ = Q~(t) - Q~(0)'

# The activations and learning rates that were run, in the order of the summary, and the steps.
acts = ''
lrs = ''
has(list, w) = strstrt(' '.list.' ', ' '.w.' ') > 0
stats summary using (a = strcol(1), l = sprintf('%g', $2), \
                     acts = has(acts, a) ? acts : acts.' '.a, lrs = has(lrs, l) ? lrs : lrs.' '.l, 0) skip 1 nooutput
colors = '#d7191c #2c7bb6 #1a9641 #7b3294 #e66101 #404040'
# The runs follow one another in drift.csv in the order of the summary, activation by activation:
# run(a, i) (learning rate i) has the data rows first_run .. last_run (drift_series.gp), which
# `every` picks without parsing the others.
load outdir.'/drift_series.gp'
run(a, i) = (a - 1) * words(lrs) + i
first(a, i) = value('first_'.run(a, i))
last(a, i) = value('last_'.run(a, i))

set multiplot layout 3,words(acts) margins 0.07,0.99,0.05,0.96 spacing 0.045,0.075
set key center right opaque
set grid
do for [a=1:words(acts)] {
  act = word(acts, a)
  stats summary using (strcol(1) eq act ? $3 : 0) skip 1 nooutput
  last = STATS_max
  set xrange [0:last]
  set xtics last/4
  set format x '%.0s%c'
  set title act
  set xlabel 'step'
  set ylabel (a == 1 ? q_label : '')
  set format y '%.2g'
  plot for [i=1:words(lrs)] data skip 1 every ::first(a, i)::last(a, i) using 3:9 \
       with lines lw 2 lc rgb word(colors, i) title 'lr '.word(lrs, i)
}
set logscale xy
unset key  # the top row's key holds for every panel
do for [a=1:words(acts)] {
  act = word(acts, a)
  stats summary using (strcol(1) eq act ? $3 : 0) skip 1 nooutput
  set xrange [1:STATS_max]
  set xtics autofreq
  set format x '1e%L'
  set format y '1e%L'
  set title ''
  set xlabel 'step (log)'
  set ylabel (a == 1 ? '|delta Q~| (log)' : '')
  plot for [i=1:words(lrs)] data skip 1 every ::first(a, i)::last(a, i) using ($3 > 0 ? $3 : 1/0):(abs($9)) \
       with lines lw 2 lc rgb word(colors, i) title 'lr '.word(lrs, i)
}
unset logscale x
do for [a=1:words(acts)] {
  act = word(acts, a)
  stats summary using (strcol(1) eq act ? $3 : 0) skip 1 nooutput
  last = STATS_max
  set xrange [0:last]
  set xtics last/4
  set format x '%.0s%c'
  set format y '1e%L'
  set xlabel 'step'
  set ylabel (a == 1 ? loss_label : '')
  plot for [i=1:words(lrs)] data skip 1 every ::first(a, i)::last(a, i) using 3:5 \
       with lines lw 2 lc rgb word(colors, i) title 'lr '.word(lrs, i)
}
unset multiplot
