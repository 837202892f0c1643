# Plots of ensemble_fashion_mnist --published; called with -e "outdir='...'".
# published_sweep.csv: variant, epsilon, members, accuracy, ..., loss, single_loss, head_loss, single_head_loss, ...
# published_attacks.csv: attack, parameter, protocol, radius, target, accuracy, ...
set datafile separator ','
set terminal pngcairo size 1500,460 noenhanced font ',11'
set output outdir.'/ensemble.png'
names = 'group_exp g_inverse random_diagonal shuffled perm_interp'
titles = 'group g^-1 random-diagonal shuffle perm-interp'
set linetype 1 lc rgb '#d62728' lw 2.5 pt 7
set linetype 2 lc rgb '#1f77b4' lw 1.5 pt 9
set linetype 3 lc rgb '#2ca02c' lw 1.5 pt 11
set linetype 4 lc rgb '#9467bd' lw 1.5 pt 13
set linetype 5 lc rgb '#8c564b' lw 1.5 pt 3
set linetype 6 lc rgb 'black' lw 2 pt 5
sweep = outdir.'/published_sweep.csv'
attacks = outdir.'/published_attacks.csv'
# The largest ensemble of the sweep.
nmax = system("awk -F, 'NR > 1 && $3 > m { m = $3 } END { print m }' ".sweep)
rows(v) = sprintf("< awk -F, '$1 == \"%s\" && $3 == %s' %s", v, nmax, sweep)
att(a, p, t) = sprintf("< awk -F, '$1 == \"%s\" && $3 == \"%s\" && $5 == \"%s\"' %s", a, p, t, attacks)
set multiplot layout 1,4 title 'Appendix H as published (float32, softmax head, h = 16, exp(eps T), advertorch attacks as called), on Fashion-MNIST'
set logscale x
set format x '%g'
set xlabel 'epsilon'
set key bottom left
set ylabel 'accuracy change (points), '.nmax.' members'
plot for [i=1:5] rows(word(names, i)) using 2:(100*$6) with linespoints lt i title word(titles, i)
set key top left
set ylabel 'loss change of the ensemble'
plot for [i=1:5] rows(word(names, i)) using 2:($9 - $10) with linespoints lt i title word(titles, i).' (as published)', \
     for [i=1:1] rows(word(names, i)) using 2:($7 - $8) with linespoints lt i dt 2 title 'group (cross-entropy of logits)'
unset logscale x
set key top right
set ylabel 'accuracy'
set xlabel 'FGSM epsilon (applied twice, clamped to [0, 1])'
targets = 'single group_exp g_inverse perm_interp'
ttitles = 'original group g^-1 perm_interp'
plot for [i=1:4] att('fgsm', 'published', word(targets, i)) using 2:6 with linespoints lt (i == 1 ? 6 : i == 2 ? 1 : i == 3 ? 2 : 5) title word(ttitles, i), \
     att('fgsm', 'clamp_only', 'single') using 2:6 with lines lt 6 dt 2 title 'original, clamp only'
set xlabel 'PGD iterations (eps 0.3, twice, clamped)'
plot for [i=1:4] att('pgd', 'published', word(targets, i)) using 2:6 with linespoints lt (i == 1 ? 6 : i == 2 ? 1 : i == 3 ? 2 : 5) title word(ttitles, i)
unset multiplot
