// Neural mechanics (Kunin, Sagastuy-Brena, Ganguli, Yamins and Tanaka, ICLR 2021) on Fashion-MNIST:
// a small convolutional network with batch normalisation and a softmax head is trained by
// mini-batch SGD, and every junction quantity is recorded beside the value its exact discrete
// dynamics predicts (symflow/junction/dynamics.hpp) from θ_0 and the velocities alone.
//
// Network (images downsampled to 14 × 14 by 2 × 2 averaging; layers numbered as in symflow):
//   1 Conv2d 8 channels 3×3 pad 1, 2 ReLU, 3 Conv2d 16 channels 3×3 stride 2 pad 1 (→ 16×7×7), 4 ReLU,
//   5 Dense 32 (no bias), 6 BatchNorm (ε = 0, no affine part), 7 ReLU, 8 Dense 10 with bias → softmax.
// Families (conserved<I>(net[, loss])):
//   translation  Translation<8>: ℓ = (1ᵀW₈, 1ᵀb₈), the sums over the 10 classes (33 entries);
//   scale        NormalizedScale<5>: ‖row k of W₅‖² per unit k feeding BatchNorm (32 entries);
//   rescale      RescaleImbalance<1> (conv → ReLU → conv, 8 channels) and RescaleImbalance<3>
//                (conv → ReLU → dense, 16 channels): ‖[w b]_k‖² − ‖outgoing_k‖².
// Optimiser: torch.optim.SGD(lr η, momentum μ, weight_decay λ) = symflow::HeavyBall on mini-batches
// (MiniBatchObjective). Three configurations from the same θ_0 and the same batches:
//   sgd          μ = 0, λ = 0: ℓ constant; Q_{t+1} = Q_t + η² B(g_t, g_t);
//   sgd_wd       μ = 0, λ:     ℓ_t = (1 − ηλ)^t ℓ_0; Q_{t+1} = (1 − ηλ)² Q_t + η² B(v, v);
//   momentum_wd  μ, λ:         the heavy-ball recursions of docs/models.md.
// Each step's batch loss is invariant under every group (batch statistics make BatchNorm invariant
// batch by batch), so the predictions are exact for SGD as for GD; what is left is rounding.
//
// Writes quantities.csv (per recorded step and family: measured and predicted summary — ‖ℓ‖ for
// the translation, Σ_k Q_k for the others — and the relative difference ‖Q_pred − Q‖ / ‖Q‖ over all
// entries), training.csv (loss on the training subset, test accuracy), summary.csv (worst relative
// difference over every step, how far each quantity moved) and neural_mechanics.png. Exits with
// status 1 when a prediction misses by more than --tolerance, a quantity that must move does not,
// or a configuration does not lower the training loss.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <symflow/flow/minibatch_objective.hpp>
#include <symflow/io.hpp>
#include <symflow/junction.hpp>
#include <symflow/model.hpp>

#include "support/plot.hpp"

namespace sf = symflow;
using sf::Index;
using Net = sf::Sequential<double, sf::Input<1, 14, 14>, sf::Conv2d<8, 3, 1, 1>, sf::ReLU, sf::Conv2d<16, 3, 2, 1>,
                           sf::ReLU, sf::Dense<32>, sf::BatchNorm, sf::ReLU, sf::Dense<10, sf::WithBias>>;
using Params = Net::Params;

namespace {

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

/// 28 × 28 images (columns) → 14 × 14 by averaging 2 × 2 blocks, for the images `idx`.
Eigen::MatrixXd downsample(const sf::IdxImages<double>& images, const std::vector<Index>& idx) {
  if (images.rows != 28 || images.columns != 28)
    throw std::runtime_error("expected 28 x 28 Fashion-MNIST images, got " + std::to_string(images.rows) + " x " +
                             std::to_string(images.columns));
  Eigen::MatrixXd x(14 * 14, static_cast<Index>(idx.size()));
  for (std::size_t j = 0; j < idx.size(); ++j) {
    const auto src = images.pixels.col(idx[j]);
    for (Index r = 0; r < 14; ++r)
      for (Index c = 0; c < 14; ++c)
        x(r * 14 + c, static_cast<Index>(j)) = 0.25 * (src((2 * r) * 28 + 2 * c) + src((2 * r) * 28 + 2 * c + 1) +
                                                       src((2 * r + 1) * 28 + 2 * c) + src((2 * r + 1) * 28 + 2 * c + 1));
  }
  return x;
}

/// The first n indices of a random permutation of 0…N−1.
std::vector<Index> random_indices(Index total, Index n, std::mt19937_64& rng) {
  std::vector<Index> all(static_cast<std::size_t>(total));
  std::iota(all.begin(), all.end(), Index(0));
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(std::min(n, total)));
  return all;
}

std::vector<int> labels_at(const std::vector<int>& labels, const std::vector<Index>& idx) {
  std::vector<int> out;
  for (Index i : idx) out.push_back(labels[static_cast<std::size_t>(i)]);
  return out;
}

/// Layer I's weights N(0, gain/fan_in) (fan_in = in·K·K for a convolution), biases zero.
template <int I>
void normal_weights(const Net& net, Params& theta, double gain, std::mt19937_64& rng) {
  auto w = net.weight<I>(theta);
  std::normal_distribution<double> normal(0.0, std::sqrt(gain / static_cast<double>(w.cols())));
  for (Index c = 0; c < w.cols(); ++c)
    for (Index r = 0; r < w.rows(); ++r) w(r, c) = normal(rng);
}

double accuracy(const Net& net, const Params& theta, const Eigen::MatrixXd& x, const std::vector<int>& labels) {
  const Eigen::MatrixXd logits = net.forward(theta, x);
  Index right = 0;
  for (Index j = 0; j < logits.cols(); ++j) {
    Index k = 0;
    logits.col(j).maxCoeff(&k);
    right += k == labels[static_cast<std::size_t>(j)];
  }
  return static_cast<double>(right) / static_cast<double>(logits.cols());
}

/// One family's quantity along a run: Q(θ_t) against QuantityDynamics' prediction.
template <class Quantity>
struct Tracker {
  std::string family, junction;
  Quantity quantity;
  sf::QuantityDynamics<Quantity> dynamics;
  typename Quantity::Value initial;
  double worst = 0;          // max over steps of ‖Q_pred − Q‖ / ‖Q‖
  double measured = 0, predicted = 0, difference = 0;  // at the last step

  Tracker(std::string f, std::string j, const Quantity& q, const sf::HeavyBall& opt, const Params& theta0)
      : family(std::move(f)), junction(std::move(j)), quantity(q), dynamics(q, opt, theta0), initial(q.value(theta0)) {}

  static double summary(const typename Quantity::Value& v) {
    if constexpr (Quantity::is_linear) return v.norm();
    else return v.sum();
  }
  /// After a step whose new velocity is v_{t+1}, at θ_{t+1}.
  void update(const Params& theta, const Params& velocity) {
    dynamics.advance(velocity);
    const typename Quantity::Value q = quantity.value(theta);
    difference = (dynamics.predicted() - q).norm() / q.norm();
    if (!(difference <= worst)) worst = difference;  // NaN sticks
    measured = summary(q);
    predicted = summary(dynamics.predicted());
  }
  /// ‖Q_t − Q_0‖ / ‖Q_0‖.
  double change(const Params& theta) const { return (quantity.value(theta) - initial).norm() / initial.norm(); }
  Index entries() const { return initial.size(); }
};

struct Config {
  std::string name;
  sf::HeavyBall opt;
};

}  // namespace

int run_example(int argc, char** argv) {
  CLI::App app{"Neural mechanics on Fashion-MNIST: the junction quantities of a conv net with batch norm under SGD, "
               "weight decay and momentum, measured against their exact dynamics"};
  std::string out_dir = "out/neural_mechanics";
  std::string data_dir = sf::fashion_mnist_default_directory;
  std::uint64_t seed = 1;
  bool quick = false;
  long steps = 5000;
  Index samples = 10000, test_samples = 2000, batch = 128;
  double learning_rate = 0.05, momentum = 0.9, weight_decay = 1e-3, tolerance = 1e-12;
  long record_every = 10, evaluate_every = 250;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files (.gz or not)")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed (subsets, initialisation, batches)");
  app.add_flag("--quick", quick, "a short run that checks the predictions (for tests)");
  app.add_option("--steps", steps, "SGD steps per configuration")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--samples", samples, "training images (a random subset)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--test-samples", test_samples, "test images for the accuracy")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "mini-batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr", learning_rate, "learning rate eta")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--momentum", momentum, "heavy-ball momentum mu of the momentum_wd run")->capture_default_str()->check(CLI::Range(0.0, 0.999));
  app.add_option("--weight-decay", weight_decay, "weight decay lambda of the sgd_wd and momentum_wd runs")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--tolerance", tolerance, "largest relative difference predicted vs measured accepted")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--record-every", record_every, "steps between rows of quantities.csv")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--evaluate-every", evaluate_every, "steps between training-loss and test-accuracy evaluations")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    steps = 100;
    samples = 500;
    test_samples = 500;
    batch = 50;
    record_every = 1;
    evaluate_every = 25;
  }
  if (batch > samples) throw std::invalid_argument("--batch-size " + std::to_string(batch) + " exceeds --samples " + std::to_string(samples));
  Eigen::setNbThreads(1);
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();

  // Data: random subsets, 14 × 14.
  sf::LabelledImages<double> train_set, test_set;
  try {
    train_set = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::train, data_dir);
    test_set = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::test, data_dir);
  } catch (const sf::DataFileError& e) {
    std::cerr << "neural_mechanics: " << e.what() << "\n";
    return 2;
  }
  std::mt19937_64 data_rng(seed ^ 0x5eed0da7aULL);
  const auto train_idx = random_indices(train_set.count(), samples, data_rng);
  const auto test_idx = random_indices(test_set.count(), test_samples, data_rng);
  const Eigen::MatrixXd x = downsample(train_set.images, train_idx), x_test = downsample(test_set.images, test_idx);
  const std::vector<int> y_labels = labels_at(train_set.labels, train_idx), test_labels = labels_at(test_set.labels, test_idx);
  Eigen::MatrixXd y = Eigen::MatrixXd::Zero(10, x.cols());
  for (Index j = 0; j < x.cols(); ++j) y(y_labels[static_cast<std::size_t>(j)], j) = 1.0;

  // Model, θ_0 (He-normal into ReLUs, LeCun-normal for the head), and its junction quantities.
  const Net net;
  Params theta0 = net.zero_params();
  {
    std::mt19937_64 init_rng(seed);
    normal_weights<1>(net, theta0, 2.0, init_rng);
    normal_weights<3>(net, theta0, 2.0, init_rng);
    normal_weights<5>(net, theta0, 2.0, init_rng);
    normal_weights<8>(net, theta0, 1.0, init_rng);
  }
  const auto [rescale1] = sf::conserved<1>(net);
  const auto [rescale3] = sf::conserved<3>(net);
  const auto [scale5] = sf::conserved<5>(net);
  const auto [translation8] = sf::conserved<8>(net, sf::SoftmaxCrossEntropy{});

  const std::vector<Config> configs = {
      {"sgd", {.learning_rate = learning_rate}},
      {"sgd_wd", {.learning_rate = learning_rate, .weight_decay = weight_decay}},
      {"momentum_wd", {.learning_rate = learning_rate, .momentum = momentum, .weight_decay = weight_decay}},
  };
  std::cout << "neural_mechanics: " << x.cols() << " training and " << x_test.cols() << " test images (14x14), " << net.size()
            << " parameters, " << steps << " steps of batch " << batch << ", eta = " << learning_rate << ", mu = " << momentum
            << ", lambda = " << weight_decay << "\n";

  const auto out = sf::examples::prepare_output(out_dir);
  auto quantities_csv = sf::examples::open_csv(out / "quantities.csv");
  auto training_csv = sf::examples::open_csv(out / "training.csv");
  auto summary_csv = sf::examples::open_csv(out / "summary.csv");
  const std::vector<std::string> families = {"translation", "scale", "rescale_conv1", "rescale_conv2"};
  quantities_csv << "config,step,batch_loss";
  for (const auto& f : families) quantities_csv << ',' << f << "_measured," << f << "_predicted," << f << "_relative_difference";
  quantities_csv << '\n';
  training_csv << "config,step,train_loss,train_accuracy,test_accuracy\n";
  summary_csv << "config,family,junction,entries,worst_relative_difference,relative_change,tolerance,passed\n";

  int failed = 0;
  std::ostringstream table;
  table << std::left << std::setw(13) << "config" << std::setw(15) << "family" << std::setw(36) << "junction"
            << std::setw(26) << "worst |pred-meas|/|meas|" << "|Q_T-Q_0|/|Q_0|\n";
  for (const Config& config : configs) {
    const auto run_start = std::chrono::steady_clock::now();
    // The same batches in every configuration.
    sf::MiniBatchObjective objective(net, sf::SoftmaxCrossEntropy{}, x, y, batch, std::mt19937_64(seed + 1));
    Params theta = theta0, velocity = net.zero_params(), grad = net.zero_params();
    auto trackers = std::make_tuple(
        Tracker("translation", "softmax head (layer 8)", translation8, config.opt, theta0),
        Tracker("scale", "dense 32 -> batch norm (layer 5)", scale5, config.opt, theta0),
        Tracker("rescale_conv1", "conv 8 -> relu -> conv (layer 1)", rescale1, config.opt, theta0),
        Tracker("rescale_conv2", "conv 16 -> relu -> dense (layer 3)", rescale3, config.opt, theta0));
    double train_loss = 0, test_accuracy = 0;
    auto evaluate = [&](long step) {
      train_loss = objective.dataset_value(theta);
      test_accuracy = accuracy(net, theta, x_test, test_labels);
      training_csv << config.name << ',' << step << ',' << train_loss << ',' << accuracy(net, theta, x, y_labels) << ','
                   << test_accuracy << '\n';
    };
    evaluate(0);
    const double initial_loss = train_loss;
    {
      quantities_csv << config.name << ",0," << objective.value(theta);
      std::apply([&](auto&... t) { ((quantities_csv << ',' << t.summary(t.initial) << ',' << t.summary(t.initial) << ",0"), ...); },
                 trackers);
      quantities_csv << '\n';
    }
    for (long step = 1; step <= steps; ++step) {
      const double batch_loss = objective.value_and_gradient(theta, grad);
      if (!std::isfinite(batch_loss) || !grad.allFinite())
        throw std::runtime_error(config.name + ": the loss or its gradient is not finite at step " + std::to_string(step - 1) +
                                 " (lower --lr)");
      config.opt.step(theta, velocity, grad);
      std::apply([&](auto&... t) { (t.update(theta, velocity), ...); }, trackers);
      objective.next_batch();
      if (step % record_every == 0 || step == steps) {
        quantities_csv << config.name << ',' << step << ',' << batch_loss;
        std::apply([&](auto&... t) { ((quantities_csv << ',' << t.measured << ',' << t.predicted << ',' << t.difference), ...); },
                   trackers);
        quantities_csv << '\n';
      }
      if (step % evaluate_every == 0 || step == steps) evaluate(step);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    std::cout << config.name << ": " << steps << " steps in " << std::setprecision(3) << seconds << " s, training loss "
              << train_loss << ", test accuracy " << test_accuracy << " (batch statistics of the test images)\n";
    if (!(train_loss < initial_loss)) {
      ++failed;
      std::cerr << "neural_mechanics: CHECK FAILED: " << config.name << " did not lower the training loss (" << initial_loss
                << " -> " << train_loss << ")\n";
    }
    std::apply(
        [&](auto&... t) {
          auto report = [&](auto& tr) {
            const double change = tr.change(theta);
            // Every quantity moves except the translation under plain SGD (constant: change ~ rounding).
            const bool must_move = !(tr.family == "translation" && config.name == "sgd");
            const bool passed = tr.worst <= tolerance && (!must_move || change >= 1e-6);
            if (!passed) {
              ++failed;
              std::cerr << "neural_mechanics: CHECK FAILED: " << config.name << " / " << tr.family << ": worst relative "
                        << "difference " << tr.worst << " (tolerance " << tolerance << "), moved by " << change << "\n";
            }
            summary_csv << config.name << ',' << tr.family << ",\"" << tr.junction << "\"," << tr.entries() << ',' << tr.worst
                        << ',' << change << ',' << tolerance << ',' << (passed ? 1 : 0) << '\n';
            table << std::left << std::setw(13) << config.name << std::setw(15) << tr.family << std::setw(36) << tr.junction
                      << std::setw(26) << std::setprecision(3) << tr.worst << change << '\n';
          };
          (report(t), ...);
        },
        trackers);
  }
  std::cout << table.str();
  sf::examples::close_csv(quantities_csv, out / "quantities.csv");
  sf::examples::close_csv(training_csv, out / "training.csv");
  sf::examples::close_csv(summary_csv, out / "summary.csv");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::cout << "total " << std::setprecision(3) << wall << " s (" << cpu_seconds() - cpu_start << " s of processor time); wrote "
            << (out / "quantities.csv").string() << ", training.csv, summary.csv\n";
  if (sf::examples::render("neural_mechanics.gp", out)) std::cout << "wrote " << (out / "neural_mechanics.png").string() << "\n";
  if (failed) {
    std::cerr << "neural_mechanics: " << failed << " check(s) failed\n";
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("neural_mechanics", [&] { return run_example(argc, argv); });
}
