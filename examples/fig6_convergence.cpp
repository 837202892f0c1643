// Figure 6 (Appendix F.3): loss curves of gradient descent on the two-layer network
// F(X) = U σ(V X) with whitened input X = I, started at three scales of the same random draw, which
// gives three values of the conserved quantity Q of eq. (48); one panel per activation.
//
// Setting (the paper's): Y ∈ R^{5×10} with N(0, 1) entries, input n = 10, hidden h = 50, output
// m = 5, X = I_10; U and V with i.i.d. N(0, s²) entries for s = 0.01, 0.1, 1 (one draw θ̂, scaled:
// θ₀ = s θ̂); gradient descent at learning rate 1e-3 on the mean squared error (PyTorch's MSELoss,
// which the paper's experiments use) for 400 000 steps, 800 000 for sigmoid.
//
// Q = Σ_k [½‖u_k‖² − Σ_j Φ_σ(V_kj)], Φ_σ(v) = ∫_0^v σ/σ′ (eq. 48; ½Tr[UᵀU − VVᵀ] for σ = identity),
// is conserved by gradient flow for any loss of F; gradient descent moves it by O(η²) per step.
// For identity and ReLU (Φ(v) = ½v², ½max(v, 0)²) the first-order terms of one step cancel
// exactly and what is left is ½η²(‖∇_U L‖² − Σ ∇_V L²) plus, for a ReLU weight that crosses zero,
// ½v'² ≤ ½η²(∂L/∂v)²; so |Q_{t+1} − Q_t| ≤ ½η²‖∇L(θ_t)‖², and the CSV column drift_bound sums it.
//
// Scaling θ changes Q, the initial function and the initial loss together. To see Q alone, the
// program also trains, for identity and ReLU, a second family ("orbit"): θ = s_ref θ̂ (s_ref = 0.1)
// moved along its symmetry orbit, W_1 ↦ cW_1, W_2 ↦ c^{−1}W_2 (symflow::with_elementwise_quantity,
// Preserve::function), to the same three values of Q. Those three runs start from one function and
// one loss and differ in Q only. (tanh and sigmoid have no symmetry that keeps the function.)
//
// --published runs the reference code's configuration (docs/figures.md#figure-6-convergence-rate-
// and-the-conserved-quantity): float32 arithmetic as PyTorch's default; Y, U and V drawn as
// torch.manual_seed(12345) draws them, U and V at each standard deviation s from that one seed (so
// the three runs are one draw scaled; U's last 16 entries are V's first 16); no orbit family. The
// summary's code_q0 is the reference code's Q at θ₀, which its legends print: ‖U‖² − ‖V‖²,
// ‖U‖² − ‖max(V, 0)‖², ‖U‖² − Σcosh²V, ½‖U‖² − ΣV − ΣeV, i.e. 2Q, 2Q, 2Q − hn, Q − hn of eq. (48)
// (hn = 500); its curves are ‖Y − F‖_F (the CSV's residual_norm). --dtype double runs the same
// draws in float64.
//
// Writes fig6_convergence.csv (one row per recorded step and run), fig6_summary.csv (one row per
// run), fig6_series.gp (the runs, for the plots), fig6_convergence.png (the paper's figure) and
// fig6_fixed_function.png (the orbit family beside the runs with the same Q).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <symflow/flow/batch_run.hpp>
#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/progress.hpp"
#include "support/series.hpp"
#include "support/reference_q.hpp"
#include "support/torch_draws.hpp"

namespace {

namespace sf = symflow;

constexpr int n_in = 10, n_hidden = 50, n_out = 5;
using Inputs = Eigen::Matrix<double, n_in, n_in>;
using Targets = Eigen::Matrix<double, n_out, n_in>;

struct Settings {
  double learning_rate = 1e-3;
  long steps = 400000;
  long sigmoid_steps = 800000;
  long record_every = 200;
  bool half_loss = false;  // ½‖Y − F‖² instead of the mean squared error
  /// A run has converged once its loss is below this fraction of the loss of the zero network.
  double threshold = 1e-3;
};

/// One curve. Family "scale": θ₀ = scale · θ̂ (the paper's protocol). Family "orbit": θ₀ = s_ref · θ̂
/// moved along its symmetry orbit to the Q of the "scale" run with the same scale.
struct Run {
  std::string family;
  std::string activation;
  double scale = 0;
  long steps = 0;
  double reference_scale = 0;
  Eigen::VectorXd theta0;  // the initial parameters (for "orbit": filled in from the reference draw)
};

struct Result {
  std::vector<long> step;
  std::vector<double> loss, residual, q;
  /// ½η² Σ_{s<t} ‖∇L(θ_s)‖²: bounds |Q_t − Q_0| for identity and ReLU (see main's comment).
  std::vector<double> drift_bound;
  double q0 = 0, q_final = 0, loss0 = 0, loss_final = 0;
  double code_q0 = 0;  // the reference code's Q at θ₀ (its legends): 2Q, 2Q, 2Q − hn, Q − hn
  long converged_at = -1;  // first step with loss ≤ threshold × loss of F = 0; −1 if never
  std::string status;
  double seconds = 0;
};

/// Steps between progress reports.
constexpr long report_every = 10000;

/// Runs per batch: four lanes step as fast per run as eight on AVX-512 and leave fewer idle (an
/// activation has three or six runs).
constexpr int lanes = 4;

/// The runs `which` of one activation (same network type and steps, each its own θ₀), in a lockstep
/// batch (symflow::run_many) on the calling thread; run i's result into results[i].
/// Scalar: float (PyTorch's default, that of --published) or double.
template <class Scalar, class Act, class Loss>
void train(const std::vector<Run>& runs, std::span<const std::size_t> which, const Settings& s, const Loss& loss,
           const Targets& y_double, std::vector<Result>& results, sf::examples::Progress& progress) {
  using Net = sf::TwoLayer<Scalar, Act, n_in, n_hidden, n_out>;
  using Params = typename Net::Params;
  using TargetsT = Eigen::Matrix<Scalar, n_out, n_in>;
  using Obj = sf::Objective<Net, Loss, n_in>;
  const Net net;
  const TargetsT y = y_double.cast<Scalar>();
  const auto q = sf::summed(sf::ElementwiseQuantity<Net>(net));  // Σ_k Q_k of eq. (48)
  const double zero_loss = double(loss.value(TargetsT::Zero().eval(), y));
  const double threshold = s.threshold * zero_loss;
  // ‖Y − F‖_F from the loss value, whichever convention.
  const double to_residual = s.half_loss ? 2.0 : static_cast<double>(n_out * n_in);
  const sf::TwoLayer<double, Act, n_in, n_hidden, n_out> in_double;

  const std::vector<Obj> objectives(which.size(), Obj(net, loss, Eigen::Matrix<Scalar, n_in, n_in>::Identity().eval(), y));
  std::vector<Params> thetas;
  for (std::size_t i : which) {
    const Run& run = runs[i];
    thetas.push_back(run.theta0.cast<Scalar>());
    Result& r = results[i];
    r.q0 = double(q.value(thetas.back()));
    const Eigen::VectorXd theta0 = thetas.back().template cast<double>();
    r.code_q0 = sf::examples::reference_code_q<Act>(in_double.template weight<2>(theta0), in_double.template weight<1>(theta0));
  }
  const auto observe = [&](std::size_t k) {
    Result& r = results[which[k]];
    // ½η² Σ_{s<t} ‖∇L(θ_s)‖²: bounds |Q_t − Q_0| for identity and ReLU (see main's comment).
    return [&, drift_bound = 0.0](const sf::LaneSnapshot<Net, lanes>& snap) mutable {
      if (r.converged_at < 0 && snap.loss <= threshold) r.converged_at = static_cast<long>(snap.step);
      if (snap.step % s.record_every == 0 || snap.last) {
        r.step.push_back(static_cast<long>(snap.step));
        r.loss.push_back(double(snap.loss));
        r.residual.push_back(std::sqrt(to_residual * double(snap.loss)));
        r.q.push_back(double(q.value(snap.theta())));
        r.drift_bound.push_back(drift_bound);
      }
      drift_bound += 0.5 * s.learning_rate * s.learning_rate * double(snap.gradient_squared_norm());
      if (snap.step > 0 && snap.step % report_every == 0) progress.add(report_every);
    };
  };
  const auto start = std::chrono::steady_clock::now();
  const auto status = sf::run_many<lanes>(sf::GradientDescent{Scalar(s.learning_rate)}, std::span<const Obj>(objectives),
                                          std::span<Params>(thetas), sf::Stopping{.max_steps = runs[which[0]].steps},
                                          observe, 1);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t k = 0; k < which.size(); ++k) {
    Result& r = results[which[k]];
    r.seconds = seconds;
    r.loss0 = r.loss.front();
    r.loss_final = r.loss.back();
    r.q_final = r.q.back();
    r.status = status[k].message();
  }
}

/// The orbit run's start: θ = s_ref θ̂ moved along its symmetry orbit to Q = target (Q of eq. 48
/// of the scaled draw s θ̂), keeping the function.
template <class Act>
Eigen::VectorXd orbit_start(double reference_scale, double scale, const Eigen::VectorXd& draw) {
  using Net = sf::TwoLayer<double, Act, n_in, n_hidden, n_out>;
  const Net net;
  const double target = sf::summed(sf::ElementwiseQuantity<Net>(net)).value((scale * draw).eval());
  const typename Net::Params reference = reference_scale * draw;
  return sf::with_elementwise_quantity(net, reference, target, sf::Preserve::function);
}

Eigen::VectorXd orbit_start_any(const std::string& activation, double reference_scale, double scale,
                                const Eigen::VectorXd& draw) {
  if (activation == "identity") return orbit_start<sf::Identity>(reference_scale, scale, draw);
  if (activation == "relu") return orbit_start<sf::ReLU>(reference_scale, scale, draw);
  throw std::invalid_argument(activation + " has no symmetry that keeps the network function");
}

template <class Scalar, class Loss>
void train_any(const std::vector<Run>& runs, std::span<const std::size_t> which, const Settings& s, const Loss& loss,
               const Targets& y, std::vector<Result>& results, sf::examples::Progress& progress) {
  const std::string& activation = runs[which[0]].activation;
  if (activation == "identity") train<Scalar, sf::Identity>(runs, which, s, loss, y, results, progress);
  else if (activation == "relu") train<Scalar, sf::ReLU>(runs, which, s, loss, y, results, progress);
  else if (activation == "tanh") train<Scalar, sf::Tanh>(runs, which, s, loss, y, results, progress);
  else if (activation == "sigmoid") train<Scalar, sf::Sigmoid>(runs, which, s, loss, y, results, progress);
  else throw std::invalid_argument("unknown activation '" + activation + "' (identity, relu, tanh, sigmoid)");
}

using sf::examples::format;

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figure 6: gradient-descent loss curves of two-layer networks started at different Q (Appendix F.3)"};
  std::string out_dir = "out/fig6_convergence";
  std::uint64_t seed = 12345;
  bool quick = false;
  Settings s;
  std::vector<double> scales{0.01, 0.1, 1.0};
  std::vector<std::string> activations{"identity", "relu", "tanh", "sigmoid"};
  std::string loss_name = "mse";
  double reference_scale = 0.1;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "seed of Y and of the initial draw");
  app.add_flag("--quick", quick, "a short run (3 000 steps, 6 000 for sigmoid) for the tests");
  app.add_option("--lr", s.learning_rate, "learning rate")->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps (identity, relu, tanh)")->capture_default_str();
  app.add_option("--sigmoid-steps", s.sigmoid_steps, "gradient-descent steps for sigmoid")->capture_default_str();
  app.add_option("--scales", scales, "standard deviations s of the initial U and V")->capture_default_str();
  app.add_option("--activations", activations, "identity, relu, tanh, sigmoid")->capture_default_str();
  app.add_option("--loss", loss_name, "mse: mean squared error (PyTorch MSELoss); half: ½‖Y − F‖²")
      ->check(CLI::IsMember({"mse", "half"}))
      ->capture_default_str();
  app.add_option("--orbit-scale", reference_scale,
                 "s_ref of the fixed-function family (identity, relu); 0 leaves that family out")
      ->capture_default_str();
  app.add_option("--record-every", s.record_every, "steps between CSV rows")->capture_default_str();
  app.add_option("--threshold", s.threshold,
                 "a run has converged once its loss is below this fraction of the loss of the zero network")
      ->capture_default_str();
  bool published = false;
  std::string dtype;
  app.add_flag("--published", published,
               "the reference code's configuration: float32, PyTorch's draws of torch.manual_seed(seed) "
               "(default seed 12345) at each scale, no orbit family; the summary's code_q0 is its legend");
  app.add_option("--dtype", dtype,
                 "arithmetic of the training: float (PyTorch's default, that of --published) or double (default "
                 "otherwise); --published --dtype double isolates what float32 changes")
      ->check(CLI::IsMember({"float", "double"}));
  CLI11_PARSE(app, argc, argv);
  if (published && loss_name != "mse")
    throw std::invalid_argument("--published trains on the mean squared error as the reference code; got --loss " +
                                loss_name);
  if (published && app.count("--seed") == 0) seed = 12345;
  if (published && app.count("--orbit-scale") > 0 && reference_scale > 0)
    throw std::invalid_argument("--published has no orbit family (the reference code has none); drop --orbit-scale");
  if (published) reference_scale = 0;
  if (dtype.empty()) dtype = published ? "float" : "double";
  if (dtype == "float" && loss_name != "mse")
    throw std::invalid_argument("--dtype float trains on the mean squared error (as PyTorch); got --loss " + loss_name);
  if (dtype == "float" && reference_scale > 0)
    throw std::invalid_argument("--dtype float runs no orbit family: add --orbit-scale 0");
  if (quick) {
    s.steps = 3000;
    s.sigmoid_steps = 6000;
    s.record_every = 20;
  }
  s.half_loss = loss_name == "half";
  const std::string loss_label = s.half_loss ? "1/2 ||Y - F||^2" : "mean squared error (1/(m k)) ||Y - F||^2";

  // Y and one draw θ̂ ~ N(0, I_d), shared by every activation and scale.
  constexpr int d = n_hidden * n_in + n_out * n_hidden;
  Targets y;
  Eigen::VectorXd draw;
  const sf::TwoLayer<double, sf::Identity, n_in, n_hidden, n_out> shape;
  // θ₀ at standard deviation s: s θ̂, or for --published what the reference code's
  // `torch.manual_seed(seed); U = torch.rand(m, h).normal_(0, s)` (and the same for V, its V being
  // symflow's Vᵀ) gives: in float, s times the draw at s = 1, rounded.
  const auto start_at = [&](double scale) -> Eigen::VectorXd {
    if (!published) return scale * draw;
    namespace ex = sf::examples;
    Eigen::VectorXd theta(d);
    shape.weight<2>(theta) = ex::torch_seeded_normal(seed, n_out, n_hidden, 0.0f, float(scale)).cast<double>();
    shape.weight<1>(theta) = ex::torch_seeded_normal(seed, n_in, n_hidden, 0.0f, float(scale)).cast<double>().transpose();
    return theta;
  };
  if (published) {
    y = sf::examples::torch_seeded_normal(seed, n_out, n_in, 0.0f, 1.0f).cast<double>();
  } else {
    std::mt19937_64 rng(seed);
    y = sf::random_normal<Targets>(n_out, n_in, rng);
    draw = sf::random_normal<Eigen::VectorXd>(d, 1, rng);
  }

  std::vector<Run> runs;
  for (const auto& a : activations)
    for (double scale : scales)
      runs.push_back({"scale", a, scale, a == "sigmoid" ? s.sigmoid_steps : s.steps, 0, start_at(scale)});
  // The fixed-function family: one function (that of s_ref θ̂), the three values of Q above.
  std::vector<std::string> orbit_activations;
  if (reference_scale > 0)
    for (const auto& a : activations)
      if (a == "identity" || a == "relu") orbit_activations.push_back(a);
  for (const auto& a : orbit_activations)
    for (double scale : scales)
      runs.push_back({"orbit", a, scale, s.steps, reference_scale, orbit_start_any(a, reference_scale, scale, draw)});

  const auto start = std::chrono::steady_clock::now();
  std::cerr << "fig6_convergence: " << runs.size() << " runs of gradient descent at lr " << s.learning_rate << " on the "
            << loss_name << " loss in " << dtype << ", seed " << seed
            << (published ? "; published: PyTorch's draws, the reference code's Q in code_q0" : "") << "\n";
  // Runs of one activation (both families) share the network type and the step count: they go
  // through lockstep batches together, up to `lanes` at a time. Each lane follows its own run alone,
  // so the results depend neither on the grouping nor on the number of threads. symflow::sweep runs
  // the batches on the OpenMP threads, the costliest first so that the two cores finish together: a
  // step of tanh or sigmoid costs about 2.5 of identity or ReLU (500 exponentials).
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      const Run& first = runs[g[0]];
      return g.size() < static_cast<std::size_t>(lanes) && first.activation == runs[i].activation &&
             first.steps == runs[i].steps;
    });
    if (same == groups.end()) groups.push_back({i});
    else same->push_back(i);
  }
  const auto cost = [&](const std::vector<std::size_t>& g) {
    const Run& run = runs[g[0]];
    return static_cast<double>(run.steps) * (run.activation == "tanh" || run.activation == "sigmoid" ? 2.5 : 1.0);
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return cost(a) > cost(b); });
  long total_steps = 0;
  for (const Run& r : runs) total_steps += r.steps / report_every * report_every;
  sf::examples::Progress progress("gradient-descent steps", std::max(total_steps, 1L));
  std::mutex print;
  std::size_t done = 0;
  std::vector<Result> results(runs.size());
  try {
    // Each group writes only its own runs' results.
    sf::sweep(groups.size(), [&](std::uint64_t g) {
      const std::span<const std::size_t> which(groups[g]);
      if (s.half_loss) train_any<double>(runs, which, s, sf::HalfSquaredError{}, y, results, progress);
      else if (dtype == "float") train_any<float>(runs, which, s, sf::MeanSquaredError{}, y, results, progress);
      else train_any<double>(runs, which, s, sf::MeanSquaredError{}, y, results, progress);
      const std::lock_guard<std::mutex> lock(print);
      for (std::size_t i : which)
        std::cerr << "  [" << ++done << "/" << runs.size() << "] " << runs[i].family << " " << runs[i].activation
                  << " s = " << runs[i].scale << ": " << results[i].status << " (" << format(results[i].seconds, 3)
                  << " s, in lanes)\n";
      return g;
    });
  } catch (const std::exception& e) {
    std::cerr << "fig6_convergence: " << e.what() << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto out = sf::examples::prepare_output(out_dir);
  {
    auto csv = sf::examples::open_csv(out / "fig6_convergence.csv");
    csv << "family,activation,scale,step,loss,residual_norm,q,drift_bound\n";
    for (std::size_t i = 0; i < runs.size(); ++i)
      for (std::size_t j = 0; j < results[i].step.size(); ++j)
        csv << runs[i].family << ',' << runs[i].activation << ',' << format(runs[i].scale) << ',' << results[i].step[j] << ',' << results[i].loss[j] << ','
            << results[i].residual[j] << ',' << results[i].q[j] << ',' << results[i].drift_bound[j] << '\n';
  }
  {
    auto csv = sf::examples::open_csv(out / "fig6_summary.csv");
    const std::string header =
        "family,activation,scale,reference_scale,steps,learning_rate,loss,q0,q_final,loss0,loss_final,converged_at,"
        "threshold,code_q0,dtype,configuration";
    csv << header << '\n';
    std::cout << "fig6_convergence: Q of eq. (48) at the start and the end; converged_at = first step with loss <= "
              << s.threshold << " x loss of F = 0\n"
              << header << '\n';
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const Result& r = results[i];
      const std::string line = runs[i].family + ',' + runs[i].activation + ',' + format(runs[i].scale) + ',' +
                               format(runs[i].reference_scale) + ',' + std::to_string(runs[i].steps) +
                               ',' + format(s.learning_rate) + ',' + loss_name + ',' + format(r.q0) + ',' +
                               format(r.q_final) + ',' + format(r.loss0) + ',' + format(r.loss_final) + ',' +
                               std::to_string(r.converged_at) + ',' + format(s.threshold) + ',' +
                               format(r.code_q0) + ',' + dtype + ',' + (published ? "published" : "symflow");
      csv << line << '\n';
      std::cout << line << '\n';
    }
  }
  {
    // The runs for the gnuplot script: names, scales and Q₀ for the legends.
    auto gp = sf::examples::open_csv(out / "fig6_series.gp");
    gp << "loss_label = '" << loss_label << "'\n"
       << "learning_rate = '" << s.learning_rate << "'\n"
       << "panels = " << activations.size() << "\nseries_per_panel = " << scales.size()
       << "\norbit_panels = " << orbit_activations.size() << "\npublished = " << (published ? 1 : 0) << "\nreference_scale = " << format(reference_scale) << '\n';
    for (std::size_t a = 0; a < orbit_activations.size(); ++a)
      gp << "orbit_activation_" << a + 1 << " = '" << orbit_activations[a] << "'\n";
    for (std::size_t a = 0; a < activations.size(); ++a) gp << "activation_" << a + 1 << " = '" << activations[a] << "'\n";
    for (std::size_t i = 0; i < runs.size(); ++i)
      gp << "scale_" << i + 1 << " = " << format(runs[i].scale) << "\nq0_" << i + 1 << " = '" << format(results[i].q0, 3)
         << "'\ncode_q0_" << i + 1 << " = '" << format(results[i].code_q0, published ? 4 : 3) << "'\nloss0_" << i + 1 << " = '" << format(results[i].loss0, 3) << "'\nsteps_" << i + 1 << " = "
         << runs[i].steps << '\n';
    // The rows of run i in fig6_convergence.csv, for `every ::first_i::last_i`.
    sf::examples::RowRanges ranges;
    for (const Result& r : results) ranges.add(r.step.size());
    ranges.write(gp);
  }
  std::cout << "wrote " << (out / "fig6_convergence.csv").string() << " and " << (out / "fig6_summary.csv").string()
            << " (" << format(seconds, 3) << " s of training)\n";
  if (sf::examples::render("fig6_convergence.gp", out)) {
    std::cout << "wrote " << (out / "fig6_convergence.png").string();
    if (!orbit_activations.empty()) std::cout << " and " << (out / "fig6_fixed_function.png").string();
    std::cout << "\n";
  }
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig6_convergence", [&] { return run_example(argc, argv); });
}
