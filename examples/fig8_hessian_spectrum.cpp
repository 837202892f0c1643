// Figure 8 (Appendix G): the eigenvalues of the exact Hessian at the minimum gradient descent
// reaches, for initialisations with different values of the conserved quantity Q.
//
// Part 1 (G.2, the figure): F(X) = U σ(V X) with whitened input X = I_5, Y ∈ R^{10×5} with N(0, 1)
// entries, input n = 5, hidden h = 50, output m = 10: d = 750 parameters. U and V start at scales
// s = 0.001, 0.3, 0.6, 0.9 of one N(0, 1) draw (θ₀ = s θ̂), which gives four values of Q of eq. (48);
// gradient descent at learning rate 0.1 on the mean squared error (PyTorch's MSELoss, as the paper's
// experiments) for 4 000 steps (8 000 for sigmoid). Then the exact 750 × 750 Hessian of ½‖Y − F‖²
// (Objective::hessian, dual numbers) and all its eigenvalues. At a minimum with Y = F the Hessian is
// JᵀJ (J = ∂vec F/∂θ, m·k = 50 rows), so at most 50 eigenvalues are nonzero. For the linear network
// GL_h moves θ along the minimum without changing F, so every generator M̄θ is a zero direction
// of the Hessian; when U has full row rank and V full column rank (h ≥ m, n) the orbit has dimension
// h(m + n) − mn = 700, and it is the whole kernel: exactly d − mn eigenvalues vanish.
//
// Part 2 (G.1): the scalar network L = ½(y − u v x)² with x = y = 1 started at chosen values of
// Q = u² − v² (symflow::with_layer_imbalance_trace, keeping u v). At a minimum u v = 1 the Hessian
// [[v², 2uv − 1], [2uv − 1, u²]] = [[v², 1], [1, u²]] has determinant u²v² − 1 = 0 and trace
// u² + v² = √((u² − v²)² + 4u²v²) = √(Q² + 4): eigenvalues 0 and √(Q² + 4). The paper's eq. (77)
// prints 2√(Q² + 4), which is the Hessian of (y − uvx)² without the ½ (see docs/errata.md).
//
// --published runs the reference code's configuration (docs/figures.md#figure-8-hessian-spectrum-at-
// the-minimum): float32 training as PyTorch's default; Y, U (10 × 50) and V (5 × 50, symflow's Vᵀ)
// drawn as torch.manual_seed(12345) draws them at each standard deviation s (U's first 16 entries
// are V's last 16); the histograms of what it plots: the eigenvalues of the Hessian of ‖Y − F‖² (the
// sum: twice the Hessian of ½‖Y − F‖²) that are at least 10⁻³, in bins [0.001 + 4j, 0.001 + 4(j + 1));
// the legends its Q at θ₀, 2Q, 2Q, 2Q − hn, Q − hn (hn = 250). The Hessian is evaluated in double at
// the float32 point reached (the code evaluates it in float32 with a general eigensolver); the summary
// has the count and mean of those eigenvalues (sum_count, sum_centre) and the code's Q (code_q0).
// --dtype double trains from the same draws in float64.
//
// Writes fig8_eigenvalues.csv, fig8_summary.csv, fig8_scalar.csv, fig8_series.gp and
// fig8_hessian_spectrum.png, fig8_scalar.png.
#include <CLI/CLI.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/series.hpp"
#include "support/reference_q.hpp"
#include "support/torch_draws.hpp"

namespace {

namespace sf = symflow;

struct Settings {
  Eigen::Index input = 5, hidden = 50, output = 10;
  double learning_rate = 0.1;
  long steps = 4000;
  long sigmoid_steps = 8000;
  /// |λ| at most this counts as a zero eigenvalue (the paper's 10⁻³ for the Hessian of ‖Y − F‖²).
  double zero_tolerance = 5e-4;
};

struct Run {
  std::string activation;
  double scale = 0;
  long steps = 0;
  Eigen::VectorXd theta0;
};

/// The published histograms' cut: eigenvalues of the Hessian of ‖Y − F‖² below it are left out.
constexpr double published_cut = 1e-3;

struct Result {
  Eigen::VectorXd eigenvalues;
  double q0 = 0, q_final = 0, loss_final = 0, gradient_norm = 0;
  double code_q0 = 0;  // the reference code's Q at θ₀: 2Q, 2Q, 2Q − hn, Q − hn
  long zero_count = 0;
  /// Dimension of the orbit of the linear symmetry through θ (rank of its generators), the closed
  /// form at a generic point, and σ_r/σ_{r+1} of the generator map (how clearly the rank stands out);
  /// −1 if the activation has no linear symmetry.
  long orbit_dimension = -1, generic_orbit_dimension = -1;
  double orbit_gap = -1;
  /// max over generators ξ of ‖Hξ‖ / (‖H‖₂ ‖ξ‖): zero when the orbit lies in the Hessian's kernel.
  double orbit_in_kernel = -1;
  /// max over random pairs of |uᵀ(Hv) − vᵀ(Hu)| / (‖u‖‖Hv‖ + ‖v‖‖Hu‖), from raw Hessian-vector products.
  double symmetry_error = 0;
  double seconds = 0;
};

/// Gradient descent in Scalar on the mean squared error from θ; returns the point reached, in double.
template <class Scalar, class Act>
Eigen::VectorXd train(const Settings& s, const Eigen::MatrixXd& y, const Eigen::VectorXd& theta0, long steps) {
  using Net = sf::Mlp<Scalar, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({s.input, s.hidden, s.output});
  using M = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const sf::Objective training(net, sf::MeanSquaredError{}, M::Identity(s.input, s.input).eval(), y.cast<Scalar>().eval());
  typename Net::Params theta = theta0.cast<Scalar>();
  sf::run(sf::GradientDescent{Scalar(s.learning_rate)}, training, theta, sf::Stopping{.max_steps = steps});
  return theta.template cast<double>();
}

template <class Act>
Result analyse(const Run& run, const Settings& s, const Eigen::MatrixXd& y, bool single, std::mt19937_64 rng) {
  using Net = sf::Mlp<double, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({s.input, s.hidden, s.output});
  const Eigen::MatrixXd x = Eigen::MatrixXd::Identity(s.input, s.input);
  const sf::Objective half(net, sf::HalfSquaredError{}, x, y);
  const auto q = sf::summed(sf::ElementwiseQuantity<Net>(net));

  const auto start = std::chrono::steady_clock::now();
  Result r;
  r.q0 = q.value(run.theta0);
  r.code_q0 = sf::examples::reference_code_q<Act>(net.template weight<2>(run.theta0), net.template weight<1>(run.theta0));
  const typename Net::Params theta =
      single ? train<float, Act>(s, y, run.theta0, run.steps) : train<double, Act>(s, y, run.theta0, run.steps);
  r.q_final = q.value(theta);
  typename Net::Params grad;
  r.loss_final = half.value_and_gradient(theta, grad);
  r.gradient_norm = grad.norm();

  const Eigen::MatrixXd h = half.hessian(theta);
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(h, Eigen::EigenvaluesOnly);
  r.eigenvalues = eig.eigenvalues();
  r.zero_count = static_cast<long>((r.eigenvalues.array().abs() <= s.zero_tolerance).count());

  // Symmetry of the raw Hessian-vector products (before Objective::hessian symmetrises).
  for (int trial = 0; trial < 8; ++trial) {
    const Eigen::VectorXd u = sf::random_normal<Eigen::VectorXd>(net.size(), 1, rng);
    const Eigen::VectorXd v = sf::random_normal<Eigen::VectorXd>(net.size(), 1, rng);
    const Eigen::VectorXd hu = half.hessian_vector_product(theta, u), hv = half.hessian_vector_product(theta, v);
    r.symmetry_error = std::max(r.symmetry_error, std::abs(u.dot(hv) - v.dot(hu)) / (u.norm() * hv.norm() + v.norm() * hu.norm()));
  }

  // The orbit of the layer's linear symmetry: its generators span the tangent space.
  if constexpr (sf::LinearlyEquivariantActivation<Act>) {
    const auto action = sf::symmetry<1>(net);
    const sf::OrbitDimension orbit = sf::orbit_dimension(action, theta);
    r.orbit_dimension = static_cast<long>(orbit.dimension);
    r.orbit_gap = orbit.gap();
    r.generic_orbit_dimension =
        static_cast<long>(sf::generic_orbit_dimension<sf::equivariance<Act>>(s.output, s.hidden, s.input));
    const Eigen::MatrixXd tangent = sf::orbit_tangent_matrix(action, theta);
    const double h_norm = r.eigenvalues.cwiseAbs().maxCoeff();
    r.orbit_in_kernel = 0;
    const Eigen::MatrixXd image = h * tangent;
    for (Eigen::Index i = 0; i < tangent.cols(); ++i)
      if (tangent.col(i).norm() > 0)
        r.orbit_in_kernel = std::max(r.orbit_in_kernel, image.col(i).norm() / (h_norm * tangent.col(i).norm()));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

Result analyse_any(const Run& run, const Settings& s, const Eigen::MatrixXd& y, bool single, std::mt19937_64 rng) {
  if (run.activation == "identity") return analyse<sf::Identity>(run, s, y, single, rng);
  if (run.activation == "relu") return analyse<sf::ReLU>(run, s, y, single, rng);
  if (run.activation == "tanh") return analyse<sf::Tanh>(run, s, y, single, rng);
  if (run.activation == "sigmoid") return analyse<sf::Sigmoid>(run, s, y, single, rng);
  throw std::invalid_argument("unknown activation '" + run.activation + "' (identity, relu, tanh, sigmoid)");
}

/// The scalar network of G.1 from a point with Q = u² − v² = `q`, trained to its minimum.
struct ScalarResult {
  double q0 = 0, q_final = 0, u = 0, v = 0, loss = 0, gradient_norm = 0;
  double lambda_small = 0, lambda_large = 0;
  /// η² Σ_t (‖∂L/∂u‖² + ‖∂L/∂v‖²): by eq. (41) a bound on |Q_T − Q_0| under gradient descent.
  double drift_bound = 0;
  long steps = 0;
};

ScalarResult scalar_minimum(double q, double start_product, double learning_rate, long max_steps) {
  using Net = sf::TwoLayer<double, sf::Identity, 1, 1, 1>;
  const Net net;
  const Eigen::Matrix<double, 1, 1> one = Eigen::Matrix<double, 1, 1>::Ones();
  const sf::Objective objective(net, sf::HalfSquaredError{}, one, one);
  // Start from u = v = √(start_product), then move along the GL_1 orbit (u v unchanged) to
  // u² − v² = q. symflow's layer-imbalance trace is incoming minus outgoing, v² − u² = −Q.
  Net::Params base;
  base << std::sqrt(start_product), std::sqrt(start_product);
  Net::Params theta = sf::with_layer_imbalance_trace(net, base, -q, sf::Preserve::function);
  auto paper_q = [&](const Net::Params& p) { return net.weight<2>(p)(0, 0) * net.weight<2>(p)(0, 0) - net.weight<1>(p)(0, 0) * net.weight<1>(p)(0, 0); };
  ScalarResult r;
  r.q0 = paper_q(theta);
  const auto status = sf::run(sf::GradientDescent{learning_rate}, objective, theta,
                              sf::Stopping{.max_steps = max_steps, .gradient_tolerance = 1e-12},
                              [&](const sf::Snapshot<Net::Params>& snap) {
                                if (!snap.last) r.drift_bound += learning_rate * learning_rate * snap.gradient.squaredNorm();
                              });
  r.steps = static_cast<long>(status.step);
  r.q_final = paper_q(theta);
  r.u = net.weight<2>(theta)(0, 0);
  r.v = net.weight<1>(theta)(0, 0);
  Net::Params grad;
  r.loss = objective.value_and_gradient(theta, grad);
  r.gradient_norm = grad.norm();
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix2d> eig(objective.hessian(theta));
  r.lambda_small = eig.eigenvalues()[0];
  r.lambda_large = eig.eigenvalues()[1];
  return r;
}

std::string format(double x, int digits = 12) { return sf::examples::format(x, digits); }

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figure 8: Hessian eigenvalues at the minimum reached from different Q (Appendix G)"};
  std::string out_dir = "out/fig8_hessian_spectrum";
  std::uint64_t seed = 12345;
  bool quick = false;
  Settings s;
  std::vector<double> scales{0.001, 0.3, 0.6, 0.9};
  std::vector<std::string> activations{"identity", "relu", "tanh", "sigmoid"};
  std::vector<double> scalar_q;
  for (int i = -16; i <= 16; ++i) scalar_q.push_back(0.25 * i);
  double scalar_lr = 1e-3, scalar_start = 0.25;
  long scalar_max_steps = 1000000;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "seed of Y, of the initial draw and of the symmetry checks");
  app.add_flag("--quick", quick, "a small run for the tests (hidden 20)");
  app.add_option("--input", s.input, "input width n (= number of samples, X = I)")->capture_default_str();
  app.add_option("--hidden", s.hidden, "hidden width h")->capture_default_str();
  app.add_option("--output", s.output, "output width m")->capture_default_str();
  app.add_option("--lr", s.learning_rate, "learning rate (mean squared error)")->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps (identity, relu, tanh)")->capture_default_str();
  app.add_option("--sigmoid-steps", s.sigmoid_steps, "gradient-descent steps for sigmoid")->capture_default_str();
  app.add_option("--scales", scales, "standard deviations s of the initial U and V")->capture_default_str();
  app.add_option("--activations", activations, "identity, relu, tanh, sigmoid")->capture_default_str();
  app.add_option("--zero-tolerance", s.zero_tolerance, "|eigenvalue| at most this counts as zero")->capture_default_str();
  app.add_option("--scalar-q", scalar_q, "G.1: values of Q = u² − v² to start the scalar network from");
  app.add_option("--scalar-lr", scalar_lr, "G.1: learning rate on ½(1 − uv)²")->capture_default_str();
  app.add_option("--scalar-start", scalar_start, "G.1: the product u v every start shares")->capture_default_str();
  bool published = false;
  std::string dtype;
  app.add_flag("--published", published,
               "the reference code's configuration: float32, PyTorch's draws of torch.manual_seed(seed) (default "
               "seed 12345) at each scale, histograms of the eigenvalues >= 1e-3 of the Hessian of ||Y - F||^2");
  app.add_option("--dtype", dtype,
                 "arithmetic of the training: float (PyTorch's default, that of --published) or double (default "
                 "otherwise); the Hessian is evaluated in double either way")
      ->check(CLI::IsMember({"float", "double"}));
  CLI11_PARSE(app, argc, argv);
  if (quick) s.hidden = 20;
  if (published && app.count("--seed") == 0) seed = 12345;
  if (dtype.empty()) dtype = published ? "float" : "double";

  // Part 1: the 750-parameter networks.
  const Eigen::Index d = s.hidden * (s.input + s.output);
  const sf::Mlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic> shape({s.input, s.hidden, s.output});
  Eigen::MatrixXd y;
  Eigen::VectorXd draw;
  if (published) {
    // Q_hessian_eigenvalues.py: Y = rand(m, n).normal_(0, 1), U = rand(m, h).normal_(0, s),
    // V = rand(n, h).normal_(0, s), each after torch.manual_seed(12345); its V is symflow's Vᵀ.
    y = sf::examples::torch_seeded_normal(seed, s.output, s.input, 0.0f, 1.0f).cast<double>();
  } else {
    std::mt19937_64 rng(seed);
    y = sf::random_normal<Eigen::MatrixXd>(s.output, s.input, rng);
    draw = sf::random_normal<Eigen::VectorXd>(d, 1, rng);
  }
  const auto start_at = [&](double scale) -> Eigen::VectorXd {
    if (!published) return scale * draw;
    Eigen::VectorXd theta = shape.zero_params();
    shape.weight<2>(theta) =
        sf::examples::torch_seeded_normal(seed, s.output, s.hidden, 0.0f, float(scale)).cast<double>();
    shape.weight<1>(theta) =
        sf::examples::torch_seeded_normal(seed, s.input, s.hidden, 0.0f, float(scale)).cast<double>().transpose();
    return theta;
  };
  std::vector<Run> runs;
  for (const auto& a : activations)
    for (double scale : scales) runs.push_back({a, scale, a == "sigmoid" ? s.sigmoid_steps : s.steps, start_at(scale)});
  std::cerr << "fig8_hessian_spectrum: " << runs.size() << " networks with d = " << d << " parameters, trained in " << dtype
            << ", seed " << seed << (published ? "; published: PyTorch's draws, the reference code's histograms" : "")
            << "\n";
  const auto start = std::chrono::steady_clock::now();
  std::mutex print;
  std::size_t done = 0;
  // Every run draws the vectors of its symmetry check from its own generator, sweep_generator(seed,
  // i), and symflow::sweep returns the results in item order: nothing depends on the thread count.
  std::vector<Result> results;
  std::vector<ScalarResult> scalar;
  try {
    results = sf::sweep(runs.size(), [&](std::uint64_t i) {
      Result r = analyse_any(runs[i], s, y, dtype == "float", sf::sweep_generator(seed, i));
      const std::lock_guard<std::mutex> lock(print);
      std::cerr << "  [" << ++done << "/" << runs.size() << "] " << runs[i].activation << " s = " << runs[i].scale
                << ": loss " << format(r.loss_final, 3) << ", " << r.zero_count << " zero eigenvalues ("
                << format(r.seconds, 3) << " s)\n";
      return r;
    });
    // Part 2: the scalar network of G.1.
    scalar = sf::sweep(scalar_q.size(), [&](std::uint64_t i) {
      return scalar_minimum(scalar_q[i], scalar_start, scalar_lr, scalar_max_steps);
    });
  } catch (const std::exception& e) {
    std::cerr << "fig8_hessian_spectrum: " << e.what() << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto out = sf::examples::prepare_output(out_dir);
  {
    auto csv = sf::examples::open_csv(out / "fig8_eigenvalues.csv");
    csv << "activation,scale,q0,index,eigenvalue\n";
    for (std::size_t i = 0; i < runs.size(); ++i)
      for (Eigen::Index j = 0; j < results[i].eigenvalues.size(); ++j)
        csv << runs[i].activation << ',' << format(runs[i].scale) << ',' << results[i].q0 << ',' << j << ','
            << results[i].eigenvalues[j] << '\n';
  }
  {
    auto csv = sf::examples::open_csv(out / "fig8_summary.csv");
    const std::string header =
        "activation,scale,steps,input,hidden,output,parameters,q0,q_final,loss_final,gradient_norm,zero_tolerance,"
        "zero_count,nonzero_count,orbit_dimension,generic_orbit_dimension,orbit_gap,orbit_in_kernel,symmetry_error,"
        "lambda_min,lambda_max,nonzero_mean,code_q0,sum_count,sum_centre,dtype,configuration";
    csv << header << '\n';
    std::cout << "fig8_hessian_spectrum: Hessian of 1/2 ||Y - F||^2 at the point reached; Q of eq. (48)\n" << header << '\n';
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const Result& r = results[i];
      const auto& ev = r.eigenvalues;
      double nonzero_sum = 0;
      for (Eigen::Index j = 0; j < ev.size(); ++j)
        if (std::abs(ev[j]) > s.zero_tolerance) nonzero_sum += ev[j];
      const long nonzero = static_cast<long>(ev.size()) - r.zero_count;
      const std::string row =
          runs[i].activation + ',' + format(runs[i].scale) + ',' + std::to_string(runs[i].steps) + ',' +
          std::to_string(s.input) + ',' + std::to_string(s.hidden) + ',' + std::to_string(s.output) + ',' +
          std::to_string(d) + ',' + format(r.q0) + ',' + format(r.q_final) + ',' + format(r.loss_final) + ',' +
          format(r.gradient_norm) + ',' + format(s.zero_tolerance) + ',' + std::to_string(r.zero_count) + ',' +
          std::to_string(nonzero) + ',' + std::to_string(r.orbit_dimension) + ',' +
          std::to_string(r.generic_orbit_dimension) + ',' + format(r.orbit_gap) + ',' + format(r.orbit_in_kernel) + ',' +
          format(r.symmetry_error) + ',' + format(ev.minCoeff()) + ',' + format(ev.maxCoeff()) + ',' +
          format(nonzero > 0 ? nonzero_sum / static_cast<double>(nonzero) : 0.0);
      // What the reference code's histograms hold: eigenvalues 2λ ≥ 10⁻³ of the Hessian of ‖Y − F‖².
      long sum_count = 0;
      double sum_total = 0;
      for (Eigen::Index j = 0; j < ev.size(); ++j)
        if (2 * ev[j] >= published_cut) {
          ++sum_count;
          sum_total += 2 * ev[j];
        }
      const std::string line = row + ',' + format(r.code_q0) + ',' + std::to_string(sum_count) + ',' +
                               format(sum_count > 0 ? sum_total / static_cast<double>(sum_count) : 0.0) + ',' + dtype +
                               ',' + (published ? "published" : "symflow");
      csv << line << '\n';
      std::cout << line << '\n';
    }
  }
  {
    auto csv = sf::examples::open_csv(out / "fig8_scalar.csv");
    const std::string header =
        "q0,q_final,drift_bound,u,v,loss,gradient_norm,steps,lambda_small,lambda_large,closed_form,paper_eq77";
    csv << header << '\n';
    std::cout << "G.1: L = 1/2 (1 - u v)^2 from Q = u^2 - v^2; closed_form = sqrt(Q_final^2 + 4), paper_eq77 = 2 sqrt(Q0^2 + 4)\n"
              << header << '\n';
    for (const ScalarResult& r : scalar) {
      const std::string line = format(r.q0) + ',' + format(r.q_final) + ',' + format(r.drift_bound) + ',' + format(r.u) +
                               ',' + format(r.v) + ',' + format(r.loss) + ',' + format(r.gradient_norm) + ',' +
                               std::to_string(r.steps) + ',' + format(r.lambda_small) + ',' + format(r.lambda_large) +
                               ',' + format(std::sqrt(r.q_final * r.q_final + 4)) + ',' +
                               format(2 * std::sqrt(r.q0 * r.q0 + 4));
      csv << line << '\n';
      std::cout << line << '\n';
    }
  }
  {
    auto gp = sf::examples::open_csv(out / "fig8_series.gp");
    gp << "published = " << (published ? 1 : 0) << "\npublished_cut = " << published_cut << "\npanels = " << activations.size() << "\nseries_per_panel = " << scales.size() << "\nzero_tolerance = "
       << s.zero_tolerance << "\nsizes = 'X = I_" << s.input << ", Y in R^{" << s.output << "x" << s.input << "}, hidden "
       << s.hidden << ", d = " << d << "'\n";
    for (std::size_t a = 0; a < activations.size(); ++a) gp << "activation_" << a + 1 << " = '" << activations[a] << "'\n";
    for (std::size_t i = 0; i < runs.size(); ++i)
      gp << "scale_" << i + 1 << " = " << format(runs[i].scale) << "\nq0_" << i + 1 << " = '"
         << format(results[i].q0, 3) << "'\ncode_q0_" << i + 1 << " = '" << format(results[i].code_q0, 3) << "'\nzeros_" << i + 1 << " = " << results[i].zero_count << '\n';
  }
  std::cout << "wrote fig8_eigenvalues.csv, fig8_summary.csv and fig8_scalar.csv in " << out.string() << " ("
            << format(seconds, 3) << " s)\n";
  if (sf::examples::render("fig8_hessian_spectrum.gp", out))
    std::cout << "wrote " << (out / "fig8_hessian_spectrum.png").string() << " and "
              << (out / "fig8_scalar.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig8_hessian_spectrum", [&] { return run_example(argc, argv); });
}
