# Figure 1 from fig1_valley.cpp; called with -e "outdir='...'".
# Left: contours of the loss 1/2 (y - u v x)^2, gradient-flow lines (each labelled by its Q = u^2 - v^2)
# and the curve of minima u v = y/x, all coloured by Q. Right: the curvature of the valley floor.
set datafile separator ','
set terminal pngcairo size 1500,780 font ',13' noenhanced
set output outdir.'/valley.png'

grid = outdir.'/valley_grid.csv'
lines = outdir.'/valley_trajectories.csv'
flows = outdir.'/valley_flows.csv'
minima = outdir.'/valley_minima.csv'

# Contour lines of log10(loss), traced by gnuplot into a table.
set table $contours
set view map
unset surface
set contour base
set cntrparam levels discrete -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5
splot grid using 1:2:(log10($3)) skip 1 with lines
unset table
unset contour
set surface

qmax = 6  # colour and Q axis range
set palette defined (-1 '#2c7bb6', -0.5 '#abd9e9', 0 '#a0a0a0', 0.5 '#fdae61', 1 '#d7191c')
set cbrange [-qmax:qmax]
set cblabel 'Q = u^2 - v^2'

set multiplot layout 1,2 margins 0.06,0.92,0.16,0.93 spacing 0.12
set size ratio -1
stats grid using 1 skip 1 nooutput
r = STATS_max
set xrange [-r:r]
set yrange [-r:r]
set xlabel 'u (second layer)'
set ylabel 'v (first layer)'
set title 'loss 1/2 (y - u v x)^2: contours at log10 L = -3, -2, -1.5, ..., 1.5'
set key outside below horizontal maxcols 2 samplen 2 font ',11'
# The table is whitespace-separated: with the comma separator each line is one field, split by word().
plot $contours using (real(word(strcol(1),1))):(real(word(strcol(1),2))) with lines lc rgb '#c8c8c8' lw 1 notitle, \
     minima using 2:3:4 skip 1 with lines lw 6 lc palette title 'minima u v = y/x', \
     lines using 4:5:2 skip 1 with lines lw 2 lc palette title 'gradient flow', \
     flows using 4:5:6 skip 1 with points pt 7 ps 1.4 lc palette title 'start, labelled by its Q', \
     flows using 9:10 skip 1 with points pt 6 ps 1.6 lc rgb 'black' title 'end of the flow', \
     flows using 4:5:(sprintf('Q = %.3g', $6)) skip 1 with labels offset char 0,1 font ',11' notitle

set size noratio
set autoscale
set xrange [-qmax:qmax]
set title 'sharpness of each minimum: Hessian eigenvalues against its Q'
set xlabel 'Q = u^2 - v^2 at the minimum'
set ylabel 'eigenvalue of the Hessian (1/2 loss)'
set cbrange [-qmax:qmax]
set key default
set key top center opaque
plot minima using 4:6 skip 1 with lines lw 3 lc rgb '#404040' title 'largest eigenvalue', \
     minima using 4:5 skip 1 with lines lw 3 dt 2 lc rgb '#808080' title 'smallest eigenvalue (flat direction)', \
     flows using 12:14:12 skip 1 with points pt 7 ps 1.4 lc palette title 'ends of the flow lines'
unset multiplot
