// Figure 1: the valley of the two-layer scalar network F(x) = u·v·x with loss L = ½(y − u v x)².
//
// The minima form the hyperbola u v = y/x (two branches). The positive rescaling (u, v) ↦ (u/g, g v)
// leaves L unchanged and moves along it; gradient flow conserves Q = u² − v², so each flow line
// stays on one level set of Q and ends at the one point of a branch with that Q. The program
// integrates gradient flow θ̇ = −∇L(θ) (adaptive Dormand–Prince 5(4)) from several starting points,
// records Q along each flow line, samples the loss on a grid for the contours, and colours the
// curve of minima by Q. Beside it: the curvature of the valley floor, the largest Hessian
// eigenvalue at each minimum as a function of Q (the other eigenvalue is 0, along the valley).
//
// Loss convention: ½‖Y − F‖² (symflow::HalfSquaredError), the paper's theory.
// Writes valley_grid.csv, valley_trajectories.csv, valley_flows.csv, valley_minima.csv and
// valley.png.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <Eigen/Eigenvalues>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"

namespace sf = symflow;

namespace {

/// u, v: the scalar weights; the network is TwoLayer<double, Identity, 1, 1, 1> with V = W_1 = v
/// (θ[0]) and U = W_2 = u (θ[1]).
using Net = sf::TwoLayer<double, sf::Identity, 1, 1, 1>;
using Params = Net::Params;

Params point(const Net& net, double u, double v) {
  Params p;
  net.weight<2>(p)(0, 0) = u;
  net.weight<1>(p)(0, 0) = v;
  return p;
}

std::vector<std::pair<double, double>> parse_starts(const std::vector<std::string>& specs) {
  std::vector<std::pair<double, double>> out;
  for (const auto& s : specs) {
    std::istringstream in(s);
    double u = 0, v = 0;
    char comma = 0;
    if (!(in >> u >> comma >> v) || comma != ',' || !(in >> std::ws).eof())
      throw std::invalid_argument("--start expects 'u,v' (e.g. --start 0.2,2.3), got '" + s + "'");
    out.emplace_back(u, v);
  }
  return out;
}

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figure 1: loss valley of L = 1/2 (y - u v x)^2, gradient-flow lines labelled by Q = u^2 - v^2"};
  std::string out_dir = "out/fig1_valley";
  std::uint64_t seed = 1;
  bool quick = false;
  double x = 1.0, y = 1.0;
  double range = 2.5;
  int grid = 241;
  double flow_time = 40.0;
  double rtol = 1e-12;
  double max_step = 0.02;
  int random_starts = 0;
  std::vector<std::string> start_specs{"2.3,-0.6", "-0.6,2.3", "0.6,-2.3",  "-2.3,0.6", "2.2,2.2",   "0.02,0.03",
                                       "1.5,-1.8", "-1.8,1.5", "0.3,2.0",  "-1.0,-2.3", "-2.2,-2.3"};
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed for --random-starts");
  app.add_option("--x", x, "the input x")->capture_default_str();
  app.add_option("--y", y, "the target y")->capture_default_str();
  app.add_option("--range", range, "plot the square [-range, range]^2 of (u, v)")->capture_default_str();
  app.add_option("--grid", grid, "grid points per axis for the loss contours")->capture_default_str();
  app.add_option("--start", start_specs, "starting points u,v of the flow lines (repeat the option)")
      ->capture_default_str();
  app.add_option("--random-starts", random_starts, "extra starting points drawn uniformly in the square")
      ->capture_default_str();
  app.add_option("--time", flow_time, "gradient-flow time to integrate each line for")->capture_default_str();
  app.add_option("--rtol", rtol, "relative tolerance of the adaptive integrator")->capture_default_str();
  app.add_option("--max-step", max_step, "largest time step (keeps the drawn lines smooth)")->capture_default_str();
  app.add_flag("--quick", quick, "a small grid (for tests)");
  CLI11_PARSE(app, argc, argv);
  if (quick) grid = 41;
  if (x == 0 || y == 0) {
    std::cerr << "fig1_valley: x and y must be nonzero (the valley is u v = y/x)\n";
    return 2;
  }

  const Net net;
  const Eigen::Matrix<double, 1, 1> input = Eigen::Matrix<double, 1, 1>::Constant(x);
  const Eigen::Matrix<double, 1, 1> target = Eigen::Matrix<double, 1, 1>::Constant(y);
  const sf::Objective objective(net, sf::HalfSquaredError{}, input, target);
  // symflow's layer imbalance is incoming minus outgoing, v² − u²; the figure's Q is u² − v².
  const sf::LayerImbalanceTrace<Net> imbalance(net);
  const auto q_of = [&](const Params& p) { return 0.0 - imbalance.value(p); };  // 0 − x: Q = 0 prints as 0, not −0

  auto starts = parse_starts(start_specs);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-range, range);
  for (int i = 0; i < random_starts; ++i) {
    const double u = uniform(rng);
    starts.emplace_back(u, uniform(rng));
  }

  const auto out = sf::examples::prepare_output(out_dir);

  // Loss on the grid, as gnuplot's grid format: one block per u, blank line between blocks.
  {
    auto csv = sf::examples::open_csv(out / "valley_grid.csv");
    csv << "u,v,loss\n";
    for (int i = 0; i < grid; ++i) {
      const double u = -range + 2 * range * i / (grid - 1);
      for (int j = 0; j < grid; ++j) {
        const double v = -range + 2 * range * j / (grid - 1);
        csv << u << ',' << v << ',' << objective.value(point(net, u, v)) << '\n';
      }
      csv << '\n';
    }
  }

  // Gradient-flow lines.
  const sf::DormandPrince flow{.rtol = rtol, .atol = rtol * 1e-2, .max_step = max_step};
  auto lines = sf::examples::open_csv(out / "valley_trajectories.csv");
  lines << "line,q0,time,u,v,loss,q\n";
  auto flows = sf::examples::open_csv(out / "valley_flows.csv");
  flows << "line,x,y,u0,v0,q0,steps,time,u_end,v_end,loss_end,q_end,max_q_change,hessian_max_end,status\n";
  std::cout << "fig1_valley: gradient flow of 1/2 (y - u v x)^2 with x = " << x << ", y = " << y
            << " (Dormand-Prince, rtol " << rtol << ")\n";
  for (std::size_t line = 0; line < starts.size(); ++line) {
    const auto [u0, v0] = starts[line];
    Params theta = point(net, u0, v0);
    const double q0 = q_of(theta);
    sf::Trace<Params> trace(1);
    trace.add_loss()
        .add("u", [&](const Params& p) { return net.weight<2>(p)(0, 0); })
        .add("v", [&](const Params& p) { return net.weight<1>(p)(0, 0); })
        .add("q", q_of);
    const auto status = sf::run(flow, objective, theta,
                                sf::Stopping{.max_steps = 1000000, .max_time = flow_time, .loss_tolerance = 1e-30},
                                trace);
    const auto time = trace.times();
    const auto u = trace.column("u"), v = trace.column("v"), loss = trace.column("loss"), q = trace.column("q");
    double max_change = 0;
    for (sf::Index r = 0; r < trace.rows(); ++r) {
      const auto i = static_cast<std::size_t>(r);
      lines << line << ',' << q0 << ',' << time[i] << ',' << u[i] << ',' << v[i] << ',' << loss[i] << ',' << q[i]
            << '\n';
      max_change = std::max(max_change, std::abs(q[i] - q0));
    }
    lines << '\n';  // a blank line ends each flow line for gnuplot
    const double u_end = u.back(), v_end = v.back();
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> end_eig(objective.hessian(theta), Eigen::EigenvaluesOnly);
    flows << line << ',' << x << ',' << y << ',' << u0 << ',' << v0 << ',' << q0 << ',' << status.step << ',' << status.time << ','
          << u_end << ',' << v_end << ',' << status.loss << ',' << q.back() << ',' << max_change << ','
          << end_eig.eigenvalues()[1] << ',' << sf::to_string(status.reason) << '\n';
    std::cout << "  line " << line << ": (u, v) = (" << u0 << ", " << v0 << "), Q = " << q0 << " -> ends at ("
              << u_end << ", " << v_end << "), u v x - y = " << u_end * v_end * x - y
              << ", max |Q(t) - Q(0)| = " << max_change << " (" << status.message() << ")\n";
  }
  sf::examples::close_csv(lines, out / "valley_trajectories.csv");  // complete before gnuplot reads them
  sf::examples::close_csv(flows, out / "valley_flows.csv");

  // The curve of minima u v = y/x, both branches, sampled evenly in log|u| over the plotted box,
  // with Q and the Hessian's eigenvalues at each point.
  {
    auto csv = sf::examples::open_csv(out / "valley_minima.csv");
    csv << "branch,u,v,q,hessian_min,hessian_max\n";
    const double c = std::abs(y / x);
    const double lo = std::log(c / range), hi = std::log(range);
    const int samples = quick ? 101 : 801;
    for (int branch = 0; branch < 2; ++branch) {
      const double sign = branch == 0 ? 1.0 : -1.0;
      for (int i = 0; i < samples; ++i) {
        const double u = sign * std::exp(lo + (hi - lo) * i / (samples - 1));
        const Params p = point(net, u, y / (x * u));
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(objective.hessian(p), Eigen::EigenvaluesOnly);
        csv << branch << ',' << u << ',' << y / (x * u) << ',' << q_of(p) << ',' << eig.eigenvalues()[0] << ','
            << eig.eigenvalues()[1] << '\n';
      }
      csv << '\n';
    }
  }

  std::cout << "wrote " << out.string() << "/valley_{grid,trajectories,flows,minima}.csv\n";
  if (sf::examples::render("fig1_valley.gp", out)) std::cout << "wrote " << (out / "valley.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig1_valley", [&] { return run_example(argc, argv); });
}
