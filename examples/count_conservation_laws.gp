# Counted conservation laws beside those symflow's quantities explain (count_conservation_laws.cpp);
# called with -e "outdir='...'".
set datafile separator ','
set terminal pngcairo size 1600,560 noenhanced
set output outdir.'/counts.png'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -65 font ',8' nomirror
set ytics nomirror
set grid ytics
set ylabel 'independent conservation laws at a random theta'
set title 'd - dim Lie(gradient fields)(theta), per activation, widths and data'
set key top left
set bmargin 9
plot outdir.'/counts.csv' every ::1 using 7:xtic(sprintf('%s %s %s', strcol(2), strcol(3), strcol(4))) \
       title 'counted (Lie algebra of the per-sample gradient fields)' lc rgb '#3465a4', \
     '' every ::1 using 9 title 'explained by symflow quantities' lc rgb '#f57900'
