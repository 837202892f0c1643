// Trains a two-layer linear network F(X) = U V X by gradient descent and records the loss and the
// layer imbalance Tr[UᵀU − VVᵀ], which gradient flow conserves and gradient descent changes by
// O(lr²) per step. Writes imbalance.csv and imbalance.png.
#include <CLI/CLI.hpp>

#include <iostream>
#include <random>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"

static int run_example(int argc, char** argv) {
  namespace sf = symflow;
  CLI::App app{"Two-layer linear network: loss and layer imbalance under gradient descent"};
  std::string out_dir = "out/two_layer_imbalance";
  std::uint64_t seed = 1;
  bool quick = false;
  long steps = 2000;
  double lr = 0.02;
  int record_every = 5;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed");
  app.add_option("--steps", steps, "gradient-descent steps")->capture_default_str();
  app.add_option("--lr", lr, "learning rate")->capture_default_str();
  app.add_option("--record-every", record_every, "steps between CSV rows")->capture_default_str();
  app.add_flag("--quick", quick, "a short run (for tests)");
  CLI11_PARSE(app, argc, argv);
  if (quick) steps = 200;

  // Input 10, hidden 50, output 5, X = I: the paper's appendix D setting, ½‖·‖² loss.
  using Net = sf::TwoLayer<double, sf::Identity, 10, 50, 5>;
  const Net net;
  std::mt19937_64 rng(seed);
  const Eigen::Matrix<double, 10, 10> x = Eigen::Matrix<double, 10, 10>::Identity();
  const auto y = sf::random_normal<Eigen::Matrix<double, 5, 10>>(5, 10, rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  Net::Params theta = sf::random_params(net, rng, 0.1);

  auto imbalance = [&](const Net::Params& t) {
    const auto u = net.weight<2>(t);
    const auto v = net.weight<1>(t);
    return u.squaredNorm() - v.squaredNorm();  // Tr[UᵀU − VVᵀ] = ‖U‖²_F − ‖V‖²_F
  };

  const auto out = sf::examples::prepare_output(out_dir);
  auto csv = sf::examples::open_csv(out / "imbalance.csv");
  csv << "step,loss,imbalance\n";
  const double q0 = imbalance(theta);
  Net::Params grad;
  double loss = 0;
  for (long step = 0; step <= steps; ++step) {
    loss = objective.value_and_gradient(theta, grad);
    if (step % record_every == 0 || step == steps) csv << step << ',' << loss << ',' << imbalance(theta) << '\n';
    if (step < steps) theta -= lr * grad;
  }
  sf::examples::close_csv(csv, out / "imbalance.csv");  // gnuplot reads it next
  const double q1 = imbalance(theta);
  std::cout << "two_layer_imbalance: " << steps << " steps at lr " << lr << ": loss " << loss << ", imbalance "
            << q0 << " -> " << q1 << " (change " << q1 - q0 << ")\n";
  std::cout << "wrote " << (out / "imbalance.csv").string() << "\n";
  if (sf::examples::render("two_layer_imbalance.gp", out)) std::cout << "wrote " << (out / "imbalance.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("two_layer_imbalance", [&] { return run_example(argc, argv); });
}
