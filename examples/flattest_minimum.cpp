// Sharpness is not a function of the function (Dinh, Pascanu, Bengio and Bengio, 2017): train a
// network to a minimum, then teleport it along its symmetry orbit to the flattest and to the
// sharpest point the search reaches. The network function (hence the loss, the outputs and the
// test accuracy) does not change; the Hessian's top eigenvalue and trace do, and the conserved
// quantity Q says where on the valley the network stands (Zhao, Gower, Walters and Yu, ICLR 2024).
//
// Problems: the (10, 50, 5) networks of Figure 8 (X = I₁₀, Y random, ½‖Y − F‖²) with a linear
// hidden layer (group GL₅₀) and with LeakyReLU (positive scaling (R>0)⁵⁰), trained by gradient
// descent from two initial scales; and a Fashion-MNIST classifier (784 → 32 → 10, LeakyReLU,
// softmax cross-entropy on a training subset, Adam), whose test accuracy is measured before and
// after. The top eigenvalue comes from Lanczos on exact Hessian-vector products; the trace is exact
// for the Figure 8 networks (d = 750 probes) and Hutchinson's estimate (fixed probes) for the
// classifier.
//
// Writes points.csv (one row per network and point: trained, flattest, sharpest), search.csv (λ_max
// along each search) and flattest_minimum.png.
#include <CLI/CLI.hpp>

#include <iomanip>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <symflow/io.hpp>
#include <symflow/symflow.hpp>
#include <symflow/testing.hpp>

#include "support/plot.hpp"

namespace {

namespace sf = symflow;

struct Point {
  std::string problem, point;
  double init_scale = 0, lambda = 0, trace = 0, loss = 0, q_norm = 0, output_change = 0, accuracy = -1;
  std::vector<double> history;
};

/// ‖Q‖_F of the action's conserved quantity (per-unit vector or GL matrix) relative to ‖θ‖².
template <class Action, class Params>
double relative_quantity(const Action& action, const Params& theta) {
  return static_cast<double>(sf::orbit_quantity(action, theta).norm() / theta.squaredNorm());
}

/// The trained point, its flattest and its sharpest teleport, measured.
template <class Objective, class Action, class Params, class Output, class Accuracy>
void teleport_both_ways(std::vector<Point>& points, const std::string& problem, double scale, const Objective& objective,
                        const Action& action, const Params& theta, const sf::CurvatureOptions& options,
                        sf::Index trace_probes, const Output& output, const Accuracy& accuracy) {
  std::mt19937_64 rng(7);
  const auto probes = sf::trace_probes<Params>(theta.size(), trace_probes, rng);
  auto measure = [&](const std::string& name, const Params& p, const std::vector<double>& history) {
    Point pt;
    pt.problem = problem;
    pt.point = name;
    pt.init_scale = scale;
    const auto hv = [&](const Params& v) { return Params(objective.hessian_vector_product(p, v)); };
    pt.lambda = static_cast<double>(sf::top_eigenpair(hv, Params(Params::Zero(p.size())), options.lanczos).value);
    pt.trace = static_cast<double>(sf::trace_estimate(hv, probes));
    pt.loss = static_cast<double>(objective.value(p));
    pt.q_norm = relative_quantity(action, p);
    pt.output_change = sf::testing::relative_error(output(p), output(theta));
    pt.accuracy = accuracy(p);
    pt.history = history;
    points.push_back(pt);
  };
  measure("trained", theta, {});
  const auto flat = sf::teleport_to_flattest(objective, action, theta, options);
  measure("flattest", flat.theta, flat.report.history);
  const auto sharp = sf::teleport_to_sharpest(objective, action, theta, options);
  measure("sharpest", sharp.theta, sharp.report.history);
  std::cout << problem << " (init scale " << scale << "): flattest search " << sf::to_string(flat.report.status) << " after "
            << flat.report.iterations << " steps; sharpest " << sf::to_string(sharp.report.status) << " after "
            << sharp.report.iterations << " steps\n";
}

template <class Act>
void figure8(std::vector<Point>& points, const std::string& name, double scale, long steps, double rate,
             const sf::CurvatureOptions& options, std::uint64_t seed) {
  using Net = sf::TwoLayer<double, Act, 10, 50, 5>;
  const Net net;
  std::mt19937_64 rng(seed);
  const Eigen::Matrix<double, 10, 10> x = Eigen::Matrix<double, 10, 10>::Identity();
  const auto y = sf::random_normal<Eigen::Matrix<double, 5, 10>>(5, 10, rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  typename Net::Params theta = sf::random_params(net, rng, scale);
  sf::run(sf::GradientDescent{.learning_rate = rate}, objective, theta, sf::Stopping{.max_steps = steps});
  teleport_both_ways(points, name, scale, objective, sf::symmetry<1>(net), theta, options, net.size(),
                     [&](const typename Net::Params& p) { return objective.output(p); },
                     [](const typename Net::Params&) { return -1.0; });
}

}  // namespace

int run_example(int argc, char** argv) {
  CLI::App app{"Flattest and sharpest points of a trained network's symmetry orbit: same function, other curvature"};
  std::string out_dir = "out/flattest_minimum";
  std::string data_dir = sf::fashion_mnist_default_directory;
  std::uint64_t seed = 1;
  bool quick = false;
  long steps = 4000, classifier_steps = 500, samples = 2000, test_samples = 10000;
  int search_steps = 30;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--steps", steps, "gradient-descent steps for the Figure 8 networks")->capture_default_str();
  app.add_option("--classifier-steps", classifier_steps, "Adam steps for the classifier")->capture_default_str();
  app.add_option("--samples", samples, "Fashion-MNIST training images (full batch)")->capture_default_str();
  app.add_option("--test-samples", test_samples, "Fashion-MNIST test images")->capture_default_str();
  app.add_option("--search-steps", search_steps, "steps of each search along the orbit")->capture_default_str();
  app.add_flag("--quick", quick, "a short run (for tests)");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    steps = 1500;
    classifier_steps = 60;
    samples = 300;
    test_samples = 1000;
    search_steps = 6;
  }
  sf::CurvatureOptions options;
  options.search.max_iterations = search_steps;
  options.lanczos.tolerance = 1e-9;

  std::vector<Point> points;
  for (double scale : {0.1, 0.5}) {
    figure8<sf::Identity>(points, "linear_gl50", scale, steps, 0.05, options, seed);
    figure8<sf::LeakyReLU>(points, "leaky_relu_scaling50", scale, steps, 0.05, options, seed);
  }
  try {
    const auto train_set = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::train, data_dir);
    const auto test_set = sf::read_fashion_mnist<double>(sf::FashionMnistSplit::test, data_dir);
    using Net = sf::Mlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    const Net net({784, 32, 10});
    const Eigen::MatrixXd x = train_set.images.pixels.leftCols(samples);
    const std::vector<int> labels(train_set.labels.begin(), train_set.labels.begin() + samples);
    const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, x, sf::one_hot_targets<double>(labels, 10));
    std::mt19937_64 rng(seed);
    Net::Params theta = sf::initialize(net, sf::XavierNormal{}, rng);
    sf::run(sf::Adam{.learning_rate = 3e-3}, objective, theta, sf::Stopping{.max_steps = classifier_steps});
    const Eigen::MatrixXd x_test = test_set.images.pixels.leftCols(test_samples);
    const std::vector<int> y_test(test_set.labels.begin(), test_set.labels.begin() + test_samples);
    sf::CurvatureOptions classifier = options;
    classifier.lanczos.tolerance = 1e-7;
    teleport_both_ways(points, "fashion_mnist", 0.0, objective, sf::symmetry<1>(net), theta, classifier, 20,
                       [&](const Net::Params& p) { return Eigen::MatrixXd(net.forward(p, x_test)); },
                       [&](const Net::Params& p) { return sf::accuracy(sf::Classifier(net, p).predict(x_test), y_test); });
  } catch (const std::exception& e) {
    std::cerr << "flattest_minimum: skipping Fashion-MNIST: " << e.what() << "\n";
  }

  const auto out = sf::examples::prepare_output(out_dir);
  auto csv = sf::examples::open_csv(out / "points.csv");
  csv << "problem,init_scale,point,lambda_max,trace,loss,relative_q,output_change,test_accuracy\n";
  auto search = sf::examples::open_csv(out / "search.csv");
  search << "problem,init_scale,search,step,lambda_max\n";
  std::cout << std::left << std::setw(22) << "problem" << std::setw(7) << "scale" << std::setw(10) << "point" << std::setw(14)
            << "λ_max" << std::setw(14) << "trace" << std::setw(14) << "loss" << std::setw(12) << "‖Q‖/‖θ‖²" << std::setw(12)
            << "Δoutput" << "test acc\n";
  bool ok = true;
  for (const Point& p : points) {
    csv << p.problem << ',' << p.init_scale << ',' << p.point << ',' << p.lambda << ',' << p.trace << ',' << p.loss << ','
        << p.q_norm << ',' << p.output_change << ',' << p.accuracy << '\n';
    for (std::size_t i = 0; i < p.history.size(); ++i)
      search << p.problem << ',' << p.init_scale << ',' << p.point << ',' << i << ',' << p.history[i] << '\n';
    std::cout << std::left << std::setw(22) << p.problem << std::setw(7) << p.init_scale << std::setw(10) << p.point
              << std::setw(14) << std::setprecision(6) << p.lambda << std::setw(14) << p.trace << std::setw(14) << p.loss
              << std::setw(12) << std::setprecision(3) << p.q_norm << std::setw(12) << p.output_change
              << (p.accuracy >= 0 ? std::to_string(p.accuracy) : std::string("-")) << '\n';
    ok = ok && p.output_change <= 1e-9;
  }
  sf::examples::close_csv(csv, out / "points.csv");
  sf::examples::close_csv(search, out / "search.csv");
  if (!ok) {
    std::cerr << "flattest_minimum: a teleport changed the network's outputs\n";
    return 1;
  }
  std::cout << "wrote " << (out / "points.csv").string() << " and search.csv\n";
  if (sf::examples::render("flattest_minimum.gp", out)) std::cout << "wrote " << (out / "flattest_minimum.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("flattest_minimum", [&] { return run_example(argc, argv); });
}
