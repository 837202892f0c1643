# Figure 7 from fig7_radial_convergence.cpp; called with -e "outdir='...'".
# Left: the loss of each run (solid) and the bound of Prop. 16, eq. (69), on it (dashed, same colour).
# Right: for one Q, each mode's distance |sigma_i^X - sigma_i^Y| measured (points), the solution of
# eq. (59) (line) and the bound of eq. (69) (dashed). For --published (published = 1) the left panel
# shows what the reference code plots, the loss over ||Y||_F, with its legends Q = |Ubar|^2 + |Vbar|^2.
load outdir.'/fig7_series.gp'
set datafile separator ','
set terminal pngcairo size 1500,620 noenhanced font 'Sans,13'
set output outdir.'/fig7_radial_convergence.png'
if (published) {
  set multiplot layout 1,2 title 'Figure 7 as published: float32, PyTorch draws (seed 12345), ubar, vbar ~ N(mu, mu^2) for four mu, U = Phi Ubar, V = Psi Vbar, lr '.learning_rate
} else {
  set multiplot layout 1,2 title 'Figure 7: U g(V^T), g(z) = z/|z|^2, spectral initialisation at four Q = Tr[U^T U + V^T V] (lambda_i = Q/5), gradient descent at lr '.learning_rate
}
scale_y = published ? 1 / y_norm : 1
legend_format = published ? 'Q = %.3g' : 'Q = %g'
set logscale y
set format y '%.0e'
set grid
set xlabel 'training step'
set format x '%g'
set key center right opaque
set title 'loss (solid) and the bound of Prop. 16, eq. (69) (dashed)'
set ylabel (published ? 'mean squared error / ||Y||_F' : 'loss: mean squared error (1/(m n)) ||Y - F||^2')
set yrange [loss_floor * scale_y:*]
file = outdir.'/fig7_loss.csv'
# Series are picked by their data rows (fig7_series.gp), which `every` reads without parsing the
# others: run i of the loss file, (run i, mode k) of the modes file, mode k of the prediction.
first(name, i) = value(name.'first_'.i)
last(name, i) = value(name.'last_'.i)
plot for [i = 1:runs] file skip 1 every ::first('loss_', i)::last('loss_', i) using 2:($4 * scale_y) \
       with lines lw 2.5 lc i title sprintf(legend_format, value('q_'.i)), \
     for [i = 1:runs] file skip 1 every ::first('loss_', i)::last('loss_', i) using 2:($5 > 1e-300 ? $5 * scale_y : 1/0) \
       with lines lw 1.5 dt 2 lc i notitle
set title sprintf('each mode at Q = %g: measured (points), eq. (59) (line), eq. (69) (dashed)', detail_q)
set ylabel '|sigma_i^X - sigma_i^Y|'
set yrange [gap_floor:*]
set key center right opaque
modes_file = outdir.'/fig7_modes.csv'
prediction = outdir.'/fig7_prediction.csv'
mode(k) = (detail_run - 1) * modes + k
plot for [k = 1:modes] modes_file skip 1 every ::first('modes_', mode(k))::last('modes_', mode(k)) \
       using 3:($10 > 0 ? $10 : 1/0) with points pt 7 ps 0.6 lc k title sprintf('mode %d, sigma^Y = %.3g', k, value('sigma_y_'.k)), \
     for [k = 1:modes] prediction skip 1 every ::first('prediction_', k)::last('prediction_', k) using 4:6 \
       with lines lw 1.5 lc k notitle, \
     for [k = 1:modes] modes_file skip 1 every ::first('modes_', mode(k))::last('modes_', mode(k)) \
       using 3:($11 > 1e-300 ? $11 : 1/0) with lines lw 1.5 dt 2 lc k notitle
unset multiplot
