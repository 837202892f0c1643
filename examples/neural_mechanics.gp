# Junction quantities of the Fashion-MNIST conv net along SGD, measured against their exact dynamics,
# from neural_mechanics.cpp; called with -e "outdir='...'".
# Top row: measured (lines) and predicted (circles) summary of each family — ‖ℓ‖ for the translation,
# Σ_k Q_k for the others. Bottom row: ‖Q_pred − Q‖ / ‖Q‖ over all entries of the family.
set datafile separator ','
set terminal pngcairo size 1800,900 noenhanced
set output outdir.'/neural_mechanics.png'
set multiplot layout 2,4 title "Neural mechanics on Fashion-MNIST: conv 8 - ReLU - conv 16 - ReLU - dense 32 - BatchNorm - ReLU - dense 10, softmax cross-entropy, mini-batch SGD\ntop: measured (lines) and predicted by the exact discrete dynamics (circles); bottom: their relative difference"
set grid
configs = 'sgd sgd_wd momentum_wd'
colour(c) = c eq 'sgd' ? '#1b9e77' : (c eq 'sgd_wd' ? '#d95f02' : '#7570b3')
pick(c, col) = strcol(1) eq c ? column(col) : 1/0
positive(c, col) = (strcol(1) eq c && column(col) > 0) ? column(col) : 1/0
names = 'translation scale rescale_conv1 rescale_conv2'
titles = "'translation: |sum over classes of [W b]| (head)' 'scale: sum_k |w_k|^2 (dense 32 into BatchNorm)' 'rescale: sum_k Q_k (conv 8 -> ReLU -> conv 16)' 'rescale: sum_k Q_k (conv 16 -> ReLU -> dense 32)'"
do for [i = 1:4] {
  set title word(titles, i)
  set xlabel 'step'
  unset logscale y
  set format y '%g'
  set key below horizontal font ',10'
  plot for [c in configs] outdir.'/quantities.csv' using 2:(pick(c, 3 * i + 1)) skip 1 with lines lw 2 lc rgb colour(c) title c, \
       for [c in configs] outdir.'/quantities.csv' using 2:(pick(c, 3 * i + 2)) skip 1 every 25 with points pt 6 ps 1.2 lc rgb colour(c) notitle
}
do for [i = 1:4] {
  set title word(names, i).': |Q_pred - Q| / |Q| (all entries)'
  set xlabel 'step'
  set logscale y
  set format y '%.0e'
  set key below horizontal font ',10'
  plot for [c in configs] outdir.'/quantities.csv' using 2:(positive(c, 3 * i + 3)) skip 1 with lines lw 1 lc rgb colour(c) title c
}
unset multiplot
