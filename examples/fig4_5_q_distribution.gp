# Figures 4 and 5 from fig4_5_q_distribution.cpp; called with -e "outdir='...'".
# Histograms (as densities) of Q over the initialisations, the closed-form normal law over them (mean
# and variance from symflow::elementwise_quantity_moments), the closed-form mean (solid line) and, for
# linear networks, the mean that the paper's eq. (47) states, m - h (dashed line).
set datafile separator ','
summary = outdir.'/q_summary.csv'
hist = outdir.'/q_histogram.csv'
normal = outdir.'/q_normal.csv'
set style fill solid 0.6 noborder
set grid
set key top left Left reverse opaque font ',11' samplen 2
set ytics format '%.2g'
sel(name) = strcol(1) eq name
# Reads the summary row of configuration `name` into mean, variance, eq47, draws and scheme.
load_summary = "stats summary using (sel(cfg) ? (mean = $11, var = $16, eq47 = $12, smean = $9, svar = $14, \
                 draws = $8, scheme = strcol(7), act = strcol(3), m = $4, h = $5, n = $6, 0) : 0) skip 1 nooutput"
set offsets 0, 0, graph 0.3, 0  # room for the key above the histogram

do for [figure in '4 5'] {
  # Draws and scheme (the same for every configuration) for the figure's title.
  cfg = 'identity_100_100_100'
  eval load_summary
  how = sprintf('%d initialisations each, %s (%s)', draws, scheme, \
                scheme eq 'xavier' ? 'eq. 46: Var U = 1/h, Var V = 1/n' : \
                scheme eq 'published' ? "the reference code's draws, eq. 46" : 'Var = 2/(fan in + fan out)')
  published = (scheme eq 'published')
  if (figure eq '4') {
    configs = 'identity_100_100_100 identity_100_200_100 identity_200_100_100'
    set terminal pngcairo size 1650,560 font ',13' noenhanced
    set output outdir.'/q_distribution_fig4.png'
    set multiplot layout 1,3 margins 0.05,0.99,0.14,0.86 spacing 0.05 \
        title (published ? "Figure 4: the reference code's Q = Tr[U^T U - V V^T] (twice eq. 45) of linear networks; " \
                         : "Figure 4: Q = 1/2 Tr[U^T U - V V^T] (eq. 45) of linear networks; ").how
  } else {
    configs = 'identity_100_100_100 relu_100_100_100 tanh_100_100_100 sigmoid_100_100_100'
    set terminal pngcairo size 1900,560 font ',13' noenhanced
    set output outdir.'/q_distribution_fig5.png'
    set multiplot layout 1,4 margins 0.04,0.99,0.14,0.86 spacing 0.04 \
        title (published ? "Figure 5: the reference code's Q (2Q, 2Q, 2Q - hn, Q - hn of eq. 48) by activation; " \
                         : "Figure 5: Q = 1/2 ||U||^2 - sum Phi(V_kj) (eq. 48) by activation; ").how
  }
  do for [c = 1:words(configs)] {
    cfg = word(configs, c)
    eval load_summary
    set title sprintf("%s, (m, h, n) = (%d, %d, %d)", act eq 'identity' ? 'linear' : act, m, h, n)
    set xlabel 'Q'
    set ylabel (c == 1 ? 'density' : '')
    unset arrow
    set arrow 1 from mean, graph 0 to mean, graph 1 nohead lw 2 lc rgb '#d7191c'
    xlo = mean - 5 * sqrt(var)
    xhi = mean + 5 * sqrt(var)
    set xrange [xlo:xhi]
    # eq. (47) for linear networks: drawn where it falls on the axis, named in the key either way.
    linear = (eq47 == eq47)
    if (linear && eq47 > xlo && eq47 < xhi) {
      set arrow 2 from eq47, graph 0 to eq47, graph 1 nohead lw 2 dt 2 lc rgb '#2c7bb6'
    }
    eq47_title = !linear ? '' : sprintf('eq. (47): E[Q] = m - h = %g%s', eq47, \
                 (eq47 > xlo && eq47 < xhi) ? '' : (eq47 < xlo ? ' (off the axis, left)' : ' (off the axis, right)'))
    set yrange [0:*]
    plot hist using (sel(cfg) ? ($2 + $3) / 2 : 1/0):(sel(cfg) ? $5 : 1/0):(sel(cfg) ? $3 - $2 : 1/0) \
              with boxes lc rgb '#9e9e9e' title sprintf('samples: mean %.4g, var %.4g', smean, svar), \
         normal using (sel(cfg) ? $2 : 1/0):(sel(cfg) ? $3 : 1/0) with lines lw 2 lc rgb '#d7191c' \
              title sprintf('closed form: mean %.4g, var %.4g', mean, var), \
         (1/0) with lines lw 2 dt 2 lc rgb '#2c7bb6' title eq47_title
  }
  unset multiplot
}
