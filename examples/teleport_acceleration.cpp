// Symmetry teleportation (Zhao, Dehmamy, Walters and Yu, NeurIPS 2022): before training, and every
// k steps, move θ along its symmetry orbit to where ‖∇L‖² is larger, the loss unchanged; then
// keep training. Does the loss fall faster per step, and per CPU second once the teleports' own
// cost is counted?
//
// Two problems, as in the paper's experiments: a regression MLP (10 → 20 → 20 → 10, LeakyReLU,
// mean-squared error on 50 Gaussian samples; the group is positive scaling of both hidden layers),
// and a Fashion-MNIST classifier (784 → 32 → 10, LeakyReLU, softmax cross-entropy on a training
// subset, full batch; positive scaling of the hidden layer). Three optimisers (gradient descent,
// heavy-ball momentum, Adam), three variants each: no teleport, one teleport at the start, a
// teleport every k steps. Each teleport is symflow::teleport_to_steepest: ascent of ‖∇L‖² over the
// group with the loss kept to 1e-10 relative, a bounded number of steps and a bounded distance.
//
// Writes curves.csv (problem, optimizer, variant, step, cpu_seconds, loss), summary.csv and
// teleport_acceleration.png (loss against steps and against CPU seconds).
#include <CLI/CLI.hpp>

#include <ctime>
#include <iomanip>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <symflow/io.hpp>
#include <symflow/symflow.hpp>

#include "support/plot.hpp"

namespace {

namespace sf = symflow;

struct Curve {
  std::string problem, optimizer, variant;
  std::vector<double> loss, cpu;
  sf::Index teleports = 0;
  double teleport_seconds = 0;
  double worst_teleport_loss_change = 0;
  double gradient_gain = 0;  // mean ‖∇L‖² after / before over the teleports
};

double cpu_now() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

/// One training run of `method`, teleporting as the variant says, recording loss and CPU time.
template <class Method, class Objective, class Action, class Params>
Curve train(const std::string& problem, const std::string& optimizer, const std::string& variant, const Method& method,
            const Objective& objective, const Action& action, const Params& theta0, long steps, long every,
            const sf::OrbitSearchOptions& search) {
  Curve c;
  c.problem = problem;
  c.optimizer = optimizer;
  c.variant = variant;
  Params theta = theta0;
  const double start = cpu_now();
  auto record = [&](const sf::Snapshot<Params>& s) {
    c.loss.push_back(static_cast<double>(s.loss));
    c.cpu.push_back(cpu_now() - start);
  };
  const sf::Stopping stop{.max_steps = steps, .blow_up_factor = 1e12};
  if (variant == "none") {
    sf::run(method, objective, theta, stop, record);
    return c;
  }
  auto teleport = [&](const Params& p) { return sf::teleport_to_steepest(objective, action, p, search); };
  sf::TeleportEvery schedule{method, variant == "once" ? 0 : every, teleport, true};
  auto state = schedule.start(objective, theta);
  sf::run(schedule, state, objective, theta, stop, record);
  c.teleports = static_cast<sf::Index>(state.reports.size());
  c.teleport_seconds = state.teleport_seconds;
  for (const auto& r : state.reports) {
    c.worst_teleport_loss_change = std::max(c.worst_teleport_loss_change, r.relative_loss_change());
    c.gradient_gain += r.objective_after / r.objective_before / static_cast<double>(state.reports.size());
  }
  return c;
}

/// First step (and CPU time) at which the loss is at most `target`, or −1.
std::pair<long, double> first_below(const Curve& c, double target) {
  for (std::size_t i = 0; i < c.loss.size(); ++i)
    if (c.loss[i] <= target) return {static_cast<long>(i), c.cpu[i]};
  return {-1, -1.0};
}

template <class Objective, class Action, class Params>
void compare(std::vector<Curve>& curves, const std::string& problem, const Objective& objective, const Action& action,
             const Params& theta0, long steps, long every, const sf::OrbitSearchOptions& search, double gd_rate,
             double momentum_rate, double adam_rate) {
  for (const std::string variant : {"none", "once", "every"}) {
    curves.push_back(train(problem, "gd", variant, sf::GradientDescent{.learning_rate = gd_rate}, objective, action, theta0,
                           steps, every, search));
    curves.push_back(train(problem, "momentum", variant, sf::Momentum{.learning_rate = momentum_rate, .momentum = 0.9},
                           objective, action, theta0, steps, every, search));
    curves.push_back(train(problem, "adam", variant, sf::Adam{.learning_rate = adam_rate}, objective, action, theta0, steps,
                           every, search));
  }
}

}  // namespace

int run_example(int argc, char** argv) {
  CLI::App app{"Symmetry teleportation: loss against steps and CPU time, with and without teleporting"};
  std::string out_dir = "out/teleport_acceleration";
  std::string data_dir = sf::fashion_mnist_default_directory;
  std::uint64_t seed = 1;
  bool quick = false;
  long steps = 400, every = 100, samples = 2000;
  int teleport_steps = 10;
  double max_distance = 2.0;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--steps", steps, "training steps per run")->capture_default_str();
  app.add_option("--every", every, "steps between teleports in the 'every' variant")->capture_default_str();
  app.add_option("--samples", samples, "Fashion-MNIST training images used (full batch)")->capture_default_str();
  app.add_option("--teleport-steps", teleport_steps, "ascent steps per teleport")->capture_default_str();
  app.add_option("--max-distance", max_distance, "largest length of a teleport's path in the Lie algebra")->capture_default_str();
  app.add_flag("--quick", quick, "a short run (for tests)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    steps = 60;
    every = 20;
    samples = 300;
  }
  sf::OrbitSearchOptions search;
  search.max_iterations = teleport_steps;
  search.max_distance = max_distance;
  search.loss_tolerance = 1e-10;

  std::vector<Curve> curves;
  std::mt19937_64 rng(seed);
  {
    using Net = sf::Mlp<double, sf::LeakyReLU, 10, 20, 20, 10>;
    const Net net;
    const auto x = sf::random_normal<Eigen::Matrix<double, 10, 50>>(10, 50, rng);
    const auto y = sf::random_normal<Eigen::Matrix<double, 10, 50>>(10, 50, rng);
    const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
    const Net::Params theta0 = sf::random_params(net, rng, 0.3);
    compare(curves, "regression", objective, sf::product_symmetry(net), theta0, steps, every, search, 0.1, 0.01, 1e-3);
  }
  try {
    const auto train_set = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::train, data_dir);
    using Net = sf::Mlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    const Net net({784, 32, 10});
    const Eigen::MatrixXd x = train_set.images.pixels.leftCols(samples);
    const std::vector<int> labels(train_set.labels.begin(), train_set.labels.begin() + samples);
    const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, x, sf::one_hot_targets<double>(labels, 10));
    const Net::Params theta0 = sf::initialize(net, sf::XavierNormal{}, rng);
    compare(curves, "fashion_mnist", objective, sf::symmetry<1>(net), theta0, steps, every, search, 0.1, 0.01, 1e-3);
  } catch (const std::exception& e) {
    std::cerr << "teleport_acceleration: skipping Fashion-MNIST: " << e.what() << "\n";
  }

  const auto out = sf::examples::prepare_output(out_dir);
  {
    auto csv = sf::examples::open_csv(out / "curves.csv");
    csv << "problem,optimizer,variant,step,cpu_seconds,loss\n";
    for (const Curve& c : curves)
      for (std::size_t i = 0; i < c.loss.size(); ++i)
        csv << c.problem << ',' << c.optimizer << ',' << c.variant << ',' << i << ',' << c.cpu[i] << ',' << c.loss[i] << '\n';
    sf::examples::close_csv(csv, out / "curves.csv");
  }
  auto csv = sf::examples::open_csv(out / "summary.csv");
  csv << "problem,optimizer,variant,final_loss,target_loss,steps_to_target,cpu_to_target,total_cpu,teleports,"
         "teleport_cpu,mean_gradient_gain,worst_teleport_loss_change\n";
  std::cout << "teleport_acceleration: " << steps << " steps per run, teleports every " << every
            << " steps ('every') or once ('once'); target = final loss of the run without teleports\n";
  std::cout << std::left << std::setw(14) << "problem" << std::setw(10) << "optimizer" << std::setw(7) << "variant"
            << std::setw(14) << "final loss" << std::setw(12) << "steps→tgt" << std::setw(12) << "cpu→tgt (s)"
            << std::setw(12) << "total (s)" << std::setw(14) << "teleport (s)" << "‖∇L‖² gain\n";
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const Curve& c = curves[i];
    // The baseline of this problem and optimizer is the 'none' run.
    const Curve* base = &c;
    for (const Curve& b : curves)
      if (b.problem == c.problem && b.optimizer == c.optimizer && b.variant == "none") base = &b;
    const double target = base->loss.back();
    const auto [step, cpu] = first_below(c, target);
    csv << c.problem << ',' << c.optimizer << ',' << c.variant << ',' << c.loss.back() << ',' << target << ',' << step << ','
        << cpu << ',' << c.cpu.back() << ',' << c.teleports << ',' << c.teleport_seconds << ',' << c.gradient_gain << ','
        << c.worst_teleport_loss_change << '\n';
    std::cout << std::left << std::setw(14) << c.problem << std::setw(10) << c.optimizer << std::setw(7) << c.variant
              << std::setw(14) << std::setprecision(6) << c.loss.back() << std::setw(12) << step << std::setw(12)
              << std::setprecision(3) << cpu << std::setw(12) << c.cpu.back() << std::setw(14) << c.teleport_seconds
              << (c.teleports ? std::to_string(c.gradient_gain) : std::string("-")) << '\n';
    if (c.worst_teleport_loss_change > 1e-10) {
      std::cerr << "teleport_acceleration: a teleport changed the loss by " << c.worst_teleport_loss_change << "\n";
      return 1;
    }
  }
  sf::examples::close_csv(csv, out / "summary.csv");
  std::cout << "wrote " << (out / "curves.csv").string() << " and summary.csv\n";
  if (sf::examples::render("teleport_acceleration.gp", out))
    std::cout << "wrote " << (out / "teleport_acceleration.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("teleport_acceleration", [&] { return run_example(argc, argv); });
}
