# Plots of ensemble_fashion_mnist.cpp; called with -e "outdir='...'".
# ensemble_by_epsilon.csv: epsilon, single_accuracy, single_loss, accuracy of the 6 ensembles, loss of the 6.
# ensemble_members_<ensemble>.csv: accuracy change in points, rows = members, columns = epsilon.
# attacks_{fgsm,pgd}_eps<e>.csv: see part 3.
set datafile separator ','
set terminal pngcairo size 1300,520 noenhanced font ',11'
names = 'group_linear group_exp g_inverse random_diagonal shuffled perm_interp'
titles = 'group:I+eM group:exp(eM) g^-1 random-diagonal shuffled-pi perm-interp'
set linetype 1 lc rgb '#d62728' lw 2.5 pt 7
set linetype 2 lc rgb '#ff7f0e' lw 2.5 pt 5
set linetype 3 lc rgb '#1f77b4' lw 1.5 pt 9
set linetype 4 lc rgb '#2ca02c' lw 1.5 pt 11
set linetype 5 lc rgb '#9467bd' lw 1.5 pt 13
set linetype 6 lc rgb '#8c564b' lw 1.5 pt 3
set linetype 7 lc rgb 'black' lw 1.5 dt 2 pt 0

# 1. Accuracy and loss of the largest ensembles against epsilon.
set output outdir.'/ensemble_accuracy.png'
set multiplot layout 1,2 title 'Ensembles of the last two layers (largest ensemble, majority vote) on the Fashion-MNIST test set'
set logscale x
set format x '10^{%L}'
set format x '%g'
set xlabel 'epsilon'
set key bottom left
set ylabel 'test accuracy (%)'
plot for [i=1:6] outdir.'/ensemble_by_epsilon.csv' skip 1 using 1:(100*column(3+i)) with linespoints title word(titles, i), \
     '' skip 1 using 1:(100*$2) with lines lt 7 title 'single model'
set logscale y
set key top left
set ylabel 'test loss (cross-entropy of the averaged distribution)'
plot for [i=1:6] outdir.'/ensemble_by_epsilon.csv' skip 1 using 1:(column(9+i)) with linespoints title word(titles, i), \
     '' skip 1 using 1:3 with lines lt 7 title 'single model'
unset multiplot
unset logscale

# 2. Change in accuracy against epsilon and the number of members (the paper's figure 9).
set output outdir.'/ensemble_members.png'
set terminal pngcairo size 1400,800 noenhanced font ',11'
set multiplot layout 2,3 title 'Change in test accuracy (percentage points) of the majority vote relative to the single model'
set palette defined (-30 '#b2182b', -5 '#ef8a62', 0 '#e8e8e8', 2 '#67a9cf', 5 '#2166ac')
set cbrange [-30:5]
clamp(v) = v < -30 ? -30 : (v > 5 ? 5 : v)
unset key
set xlabel 'epsilon'
set ylabel 'members'
set tics scale 0
set xtics rotate by 45 right
do for [i=1:6] {
  set title word(titles, i)
  file = outdir.'/ensemble_members_'.word(names, i).'.csv'
  plot file matrix rowheaders columnheaders using 1:2:(clamp($3)) with image, \
       file matrix rowheaders columnheaders using 1:2:(sprintf('%.1f', abs($3) < 0.05 ? 0 : $3)) with labels font ',8'
}
unset multiplot
set tics scale default
set xtics norotate

# 3. Accuracy under attack against the radius (the paper's figure 10), one figure per ensemble epsilon.
# attacks_<attack>_eps<e>.csv: radius, single, then per ensemble i the columns 2+4(i-1)+c for
# c = 1 white box (averaged logits), 2 white box (averaged probabilities), 3 transfer from the single
# model, 4 the worst of the three per sample.
gradients = 'logits probabilities transfer any'
gradient_titles = '"white box: averaged logits" "white box: averaged probabilities" "transfer from the single model (paper protocol)" "worst of the three, per sample"'
set terminal pngcairo size 1800,900 noenhanced font ',11'
set xlabel 'radius (pixels in [0, 1])'
set ylabel 'accuracy (%)'
set yrange [0:100]
set key top right font ',9'
epsilons = system('cat '.outdir.'/attack_epsilons.txt')
do for [e in epsilons] {
  set output outdir.'/attacks_eps'.e.'.png'
  set multiplot layout 2,4 title 'Accuracy under l-infinity attacks; ensembles at epsilon = '.e.' (majority vote)'
  do for [a in 'fgsm pgd'] {
    do for [c=1:4] {
      set title a.': '.word(gradient_titles, c)
      plot outdir.'/attacks_'.a.'_eps'.e.'.csv' skip 1 using 1:(100*$2) with linespoints lt 7 lw 2.5 title 'single model', \
           for [i=1:6] '' skip 1 using 1:(100*column(2+4*(i-1)+c)) with linespoints lt i title word(titles, i)
    }
  }
  unset multiplot
}
