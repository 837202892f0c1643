// Figure 3 (Appendix D): how far gradient descent moves the quantity that gradient flow conserves.
//
// Two-layer network F(X) = U σ(V X) with whitened input X = I (input 10, hidden 50, output 5),
// target Y ∈ R^{5×10}, trained by full-batch gradient descent with learning rates 0.1, 0.01 and
// 0.001 for 400 000 steps (800 000 for sigmoid), σ = identity, ReLU, tanh, sigmoid.
//
// Which Q. With X = I every elementwise σ conserves eq. (48) under gradient flow,
//     Q = ½‖U‖²_F − Σ_kj Φ_σ(V_kj),   Φ_σ(v) = ∫_0^v σ/σ′,
// because ∇_U L = G σ(V)ᵀ and ∇_V L = (UᵀG) ⊙ σ′(V) (G = ∂L/∂F) make d/dt ½‖U‖² = d/dt ΣΦ_σ(V).
// Φ is v²/2 (identity: Q is eq. 45, ½Tr[UᵀU − VVᵀ]), max(v, 0)²/2 (ReLU), sinh²(v)/2 (tanh) and
// v + eᵛ − 1 (sigmoid); symflow::ElementwiseQuantity evaluates them. The figure plots, as the
// paper's Appendix D, ΔQ̃(t) = Q̃(t) − Q̃(0) with Q̃ = |f₁ − f₂| / (f₁(0) + |f₂(0)|), f₁ = ½‖U‖²,
// f₂ = ΣΦ_σ(V).
//
// One step changes Q by ½η² ∇Lᵀ ∇²Q ∇L + O(η³) (the first-order term is ⟨∇Q, ∇L⟩ = 0), so the
// drift per step is second order in η. For σ = identity the change is exactly
// ½η²(‖∇_U L‖² − ‖∇_V L‖²), hence |Q_t − Q_0| ≤ ½η² Σ_{s<t} ‖∇L(θ_s)‖² (Prop. 13 with the ½ of
// eq. 45); the same bound holds for ReLU (an entry crossing 0 only shrinks the change). The CSV
// column prop13_bound is that sum, for every activation.
//
// Loss convention: by default the mean squared error (1/(m·k))‖Y − F‖² of PyTorch's MSELoss, as in
// the paper's reference code (whose learning rates refer to it); --loss half uses ½‖Y − F‖².
// Initialisation: U, V ~ N(0, 0.1²) and Y ~ N(0, 1) entries, as in the reference code; the same
// Y and θ₀ for every activation and learning rate.
//
// --published runs the reference code's configuration (docs/figures.md#figure-3): float32
// arithmetic as PyTorch's default, U, V and Y drawn as torch.manual_seed(12345) draws them (its last
// 16 entries of U equal the first 16 of V), and its Q and normalisation: Q_code = ‖U‖² − ΣΦ_code(V)
// with ΣΦ_code = ‖V‖², ‖max(V, 0)‖², Σcosh²V (identity, ReLU, tanh; 2Q, 2Q, 2Q − hn) and
// ½‖U‖² − ΣV − ΣeV (sigmoid, Q − hn), ΔQ̃ = (|Q_code(t)| − |Q_code(0)|) / D, D = f₁(0) + f₂(0) of
// those terms. Q_code and D are evaluated in float as the code does (delta_q_tilde) and in double
// from the same float parameters (delta_q_tilde_exact), which separates the rounding of the
// evaluation from the drift of the float trajectory.
//
// Writes drift.csv (one row per recorded step, the runs one after the other), drift_summary.csv,
// drift_series.gp (the rows of each run in drift.csv, for the plot) and q_drift.png.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <symflow/flow/batch_run.hpp>
#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/progress.hpp"
#include "support/series.hpp"
#include "support/torch_draws.hpp"

namespace sf = symflow;

namespace {

constexpr int input = 10, hidden = 50, output = 5;

/// One recorded point of a run.
struct Row {
  long step;
  double loss, q, q_tilde, delta_q_tilde, f1, f2, bound, delta_q_tilde_exact;
};

/// One run: an activation and a learning rate.
struct Job {
  std::string activation;
  double lr;
  long steps;
  std::vector<Row> rows;
  double seconds = 0;
};

/// Steps between progress reports.
constexpr long report_every = 10000;

/// Steps 0–1000 all, then three significant digits: every 10 up to 10⁴, every 100 up to 10⁵, …,
/// so that both the first steps and the whole run are resolved.
bool recorded(long step, long last) {
  if (step <= 1000 || step == last) return true;
  long p = 1;
  while (p * 1000 <= step) p *= 10;
  return step % p == 0;
}

/// The reference code's Q = f₁ − f₂ (utils.compute_Q) and the terms of its normalisation, evaluated
/// in T from U and V as symflow stores them: f₁ = ‖U‖² (½‖U‖² for sigmoid) and f₂ = ‖V‖²,
/// ‖max(V, 0)‖², Σcosh²V, ΣV + ΣeV. In terms of eq. (48): 2Q, 2Q, 2Q − hn, Q − hn.
template <class Act, class T, class Net, class Params>
std::pair<T, T> code_terms(const Net& net, const Params& theta) {
  const auto u = net.template weight<2>(theta);
  const auto v = net.template weight<1>(theta);
  T f1 = 0, f2 = 0;
  for (Eigen::Index k = 0; k < u.size(); ++k) f1 += T(u.data()[k]) * T(u.data()[k]);
  for (Eigen::Index k = 0; k < v.size(); ++k) {
    const T x = T(v.data()[k]);
    if constexpr (std::is_same_v<Act, sf::Identity>) f2 += x * x;
    else if constexpr (std::is_same_v<Act, sf::ReLU>) f2 += x > 0 ? x * x : T(0);
    else if constexpr (std::is_same_v<Act, sf::Tanh>) f2 += std::cosh(x) * std::cosh(x);
    else f2 += x + std::exp(x);
  }
  if constexpr (std::is_same_v<Act, sf::Sigmoid>) f1 /= 2;
  return {f1, f2};
}

/// Runs per batch: the three learning rates of an activation fill three of four lanes (four lanes
/// step as fast per run as eight on AVX-512, and leave less idle).
constexpr int lanes = 4;

/// The runs of one activation (same network type, steps, Y and θ₀; each its own learning rate),
/// in lockstep batches (symflow::run_many) on the calling thread.
template <class Scalar, class Act, class LossT>
void run_jobs(std::span<Job> jobs, const Eigen::Matrix<double, output, input>& y, const Eigen::VectorXd& theta0,
              const LossT& loss, bool published, sf::examples::Progress& progress) {
  using Net = sf::TwoLayer<Scalar, Act, input, hidden, output>;
  using Params = typename Net::Params;
  const Net net;
  const Eigen::Matrix<Scalar, input, input> x = Eigen::Matrix<Scalar, input, input>::Identity();
  const Eigen::Matrix<Scalar, output, input> target = y.cast<Scalar>();
  const sf::ElementwiseQuantity<Net> quantity(net);
  const Params start = theta0.cast<Scalar>();
  // Q̃ = |f₁ − f₂| / (f₁(θ₀) + |f₂(θ₀)|) and ΔQ̃ = Q̃(θ_t) − Q̃(θ₀), eq. (43).
  const sf::NormalisedDrift drift(quantity, start);
  // The reference code's version: its Q and D = f₁(θ₀) + f₂(θ₀), in Scalar and in double.
  const auto [c1, c2] = code_terms<Act, Scalar>(net, start);
  const auto [e1, e2] = code_terms<Act, double>(net, start);
  const Scalar code_scale = c1 + c2, code_q0 = std::abs(c1 - c2);
  const double exact_scale = e1 + e2, exact_q0 = std::abs(e1 - e2);
  const long steps = jobs.front().steps;
  std::vector<sf::Objective<Net, LossT, input>> objectives(jobs.size(), sf::Objective(net, loss, x, target));
  std::vector<Params> thetas(jobs.size(), start);
  std::vector<sf::GradientDescent> methods;
  for (const Job& job : jobs) methods.push_back(sf::GradientDescent{job.lr});
  // Run i's observer sees θ_0, θ_1, …, θ_steps with L and ∇L there, before each step.
  const auto observe = [&](std::size_t i) {
    Job& job = jobs[i];
    // ½η² Σ_{s<t} ‖∇L(θ_s)‖²: eq. (35) summed, halved for the ½ of eqs. (45) and (48).
    return [&, bound = 0.0](const sf::LaneSnapshot<Net, lanes>& at) mutable {
      if (recorded(at.step, job.steps)) {
        const Params theta = at.theta();
        if (published) {
          const auto [f1, f2] = code_terms<Act, Scalar>(net, theta);
          const auto [g1, g2] = code_terms<Act, double>(net, theta);
          const Scalar q = f1 - f2;
          job.rows.push_back({at.step, double(at.loss), double(q), double(std::abs(q) / code_scale),
                              double((std::abs(q) - code_q0) / code_scale), double(f1), double(f2), bound,
                              (std::abs(g1 - g2) - exact_q0) / exact_scale});
        } else {
          const double f1 = double(quantity.outgoing(theta));
          const double f2 = double(quantity.incoming(theta));
          const double dq = double(drift.drift(theta));
          job.rows.push_back({at.step, double(at.loss), f1 - f2, double(drift.normalised(theta)), dq, f1, f2, bound, dq});
        }
      }
      bound += 0.5 * job.lr * job.lr * double(at.gradient_squared_norm());
      if (at.step > 0 && at.step % report_every == 0) progress.add(report_every);
    };
  };
  const auto start_time = std::chrono::steady_clock::now();
  const auto status = sf::run_many<lanes>(std::span<const sf::GradientDescent>(methods),
                                          std::span<const sf::Objective<Net, LossT, input>>(objectives),
                                          std::span<Params>(thetas), sf::Stopping{.max_steps = steps}, observe, 1);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (status[i].step != steps)
      throw std::runtime_error(jobs[i].activation + " at lr " + std::to_string(jobs[i].lr) + ": " + status[i].message());
    jobs[i].seconds = seconds;
  }
}

/// Scalar: float for --dtype float (PyTorch's default, that of --published), else double.
template <class Scalar, class LossT>
void dispatch(std::span<Job> jobs, const Eigen::Matrix<double, output, input>& y, const Eigen::VectorXd& theta0,
              const LossT& loss, bool published, sf::examples::Progress& progress) {
  const std::string& activation = jobs.front().activation;
  if (activation == "identity") run_jobs<Scalar, sf::Identity>(jobs, y, theta0, loss, published, progress);
  else if (activation == "relu") run_jobs<Scalar, sf::ReLU>(jobs, y, theta0, loss, published, progress);
  else if (activation == "tanh") run_jobs<Scalar, sf::Tanh>(jobs, y, theta0, loss, published, progress);
  else if (activation == "sigmoid") run_jobs<Scalar, sf::Sigmoid>(jobs, y, theta0, loss, published, progress);
  else throw std::invalid_argument("unknown activation '" + activation + "'");
}

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figure 3 (Appendix D): drift of the conserved quantity and loss under gradient descent"};
  std::string out_dir = "out/fig3_q_drift";
  std::uint64_t seed = 1;
  bool quick = false;
  long steps = 400000, sigmoid_steps = 800000;
  std::vector<double> lrs{0.1, 0.01, 0.001};
  std::vector<std::string> activations{"identity", "relu", "tanh", "sigmoid"};
  double init_std = 0.1, target_std = 1.0;
  std::string loss_name = "mse";
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed for Y and the initial parameters");
  app.add_option("--steps", steps, "gradient-descent steps (identity, ReLU, tanh)")->capture_default_str();
  app.add_option("--sigmoid-steps", sigmoid_steps, "gradient-descent steps for sigmoid")->capture_default_str();
  app.add_option("--lr", lrs, "learning rates")->capture_default_str();
  app.add_option("--activation", activations, "activations: identity, relu, tanh, sigmoid")
      ->check(CLI::IsMember({"identity", "relu", "tanh", "sigmoid"}))
      ->capture_default_str();
  app.add_option("--init-std", init_std, "standard deviation of the entries of U and V")->capture_default_str();
  app.add_option("--target-std", target_std, "standard deviation of the entries of Y")->capture_default_str();
  app.add_option("--loss", loss_name,
                 "mse: (1/(m k)) ||Y - F||^2 as PyTorch's MSELoss (the paper's code); half: 1/2 ||Y - F||^2")
      ->check(CLI::IsMember({"mse", "half"}))
      ->capture_default_str();
  bool published = false;
  std::string dtype;
  app.add_flag("--published", published,
               "the reference code's configuration: float32, PyTorch's draws of torch.manual_seed(seed) "
               "(default seed 12345), its Q and normalisation; MSE loss");
  app.add_option("--dtype", dtype,
                 "arithmetic of the training: float (PyTorch's default, that of --published) or double (default "
                 "otherwise); --published --dtype double isolates what float32 changes")
      ->check(CLI::IsMember({"float", "double"}));
  app.add_flag("--quick", quick, "2000 steps (4000 for sigmoid), for tests");
  CLI11_PARSE(app, argc, argv);
  if (published && loss_name != "mse")
    throw std::invalid_argument("--published trains on the mean squared error as the reference code; got --loss " +
                                loss_name);
  if (published && app.count("--seed") == 0) seed = 12345;
  if (dtype.empty()) dtype = published ? "float" : "double";
  if (dtype == "float" && loss_name != "mse")
    throw std::invalid_argument("--dtype float trains on the mean squared error (as PyTorch); got --loss " + loss_name);
  if (quick) {
    steps = 2000;
    sigmoid_steps = 4000;
  }

  const sf::TwoLayer<double, sf::Identity, input, hidden, output> shape;
  Eigen::Matrix<double, output, input> y;
  Eigen::VectorXd theta0;
  if (published) {
    // Q_dynamics_elementwise.py: Y = rand(m, n).normal_(0, 1), U = rand(m, k).normal_(0, s) and
    // V = rand(n, k).normal_(0, s), each after torch.manual_seed(12345); its V is symflow's Vᵀ.
    namespace ex = sf::examples;
    y = ex::torch_seeded_normal(seed, output, input, 0.0f, float(target_std)).cast<double>();
    theta0.resize(shape.size());
    shape.weight<2>(theta0) = ex::torch_seeded_normal(seed, output, hidden, 0.0f, float(init_std)).cast<double>();
    shape.weight<1>(theta0) = ex::torch_seeded_normal(seed, input, hidden, 0.0f, float(init_std)).cast<double>().transpose();
  } else {
    std::mt19937_64 rng(seed);
    y = sf::random_normal<Eigen::Matrix<double, output, input>>(output, input, rng, target_std);
    theta0 = sf::random_params(shape, rng, init_std);
  }

  // One run per (activation, learning rate). The runs of an activation share the network type and
  // go through lockstep batches together (run_jobs); symflow::sweep runs the activations on the
  // OpenMP threads, the costliest first so that the threads finish together. A step of tanh or
  // sigmoid costs about 2.5 of identity or ReLU (their 500 exponentials per step).
  std::vector<Job> jobs;
  for (const auto& a : activations)
    for (double lr : lrs) jobs.push_back({a, lr, a == "sigmoid" ? sigmoid_steps : steps, {}});
  struct Group {
    std::size_t first, count;
    double cost;
  };
  std::vector<Group> groups;
  for (std::size_t i = 0; i < jobs.size(); i += lrs.size()) {
    const Job& job = jobs[i];
    const double batches = std::ceil(static_cast<double>(lrs.size()) / lanes);
    groups.push_back({i, lrs.size(),
                      batches * static_cast<double>(job.steps) *
                          (job.activation == "tanh" || job.activation == "sigmoid" ? 2.5 : 1.0)});
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.cost > b.cost; });

  const std::string convention = loss_name == "mse" ? "mean squared error (1/(m k)) ||Y - F||^2" : "1/2 ||Y - F||^2";
  std::cerr << "fig3_q_drift: " << jobs.size() << " gradient-descent runs, loss " << convention << "\n";
  long total_steps = 0;
  for (const Job& job : jobs) total_steps += job.steps / report_every * report_every;
  sf::examples::Progress progress("gradient-descent steps", std::max(total_steps, 1L));
  const auto start = std::chrono::steady_clock::now();
  try {
    // Each activation writes only its own jobs.
    sf::sweep(groups.size(), [&](std::uint64_t g) {
      const std::span<Job> group(jobs.data() + groups[g].first, groups[g].count);
      const bool single = dtype == "float";
      if (loss_name == "mse" && single) dispatch<float>(group, y, theta0, sf::MeanSquaredError{}, published, progress);
      else if (loss_name == "mse") dispatch<double>(group, y, theta0, sf::MeanSquaredError{}, published, progress);
      else dispatch<double>(group, y, theta0, sf::HalfSquaredError{}, published, progress);
      return g;
    });
  } catch (const std::exception& e) {
    std::cerr << "fig3_q_drift: " << e.what() << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto out = sf::examples::prepare_output(out_dir);
  {
    sf::examples::RowRanges ranges;
    for (const Job& job : jobs) ranges.add(job.rows.size());
    auto gp = sf::examples::open_csv(out / "drift_series.gp");
    gp << "# Rows of run i (the order of drift_summary.csv) in drift.csv: skip 1 every ::first_i::last_i\n";
    ranges.write(gp);
    sf::examples::close_csv(gp, out / "drift_series.gp");
  }
  {
    auto csv = sf::examples::open_csv(out / "drift.csv");
    csv << "activation,lr,step,time,loss,q,q_change,q_tilde,delta_q_tilde,f1,f2,prop13_bound,delta_q_tilde_exact\n";
    auto summary = sf::examples::open_csv(out / "drift_summary.csv");
    summary << "activation,lr,steps,loss_convention,loss_initial,loss_final,q_initial,q_final,q_change_final,"
               "delta_q_tilde_final,max_abs_delta_q_tilde,seconds,configuration,delta_q_tilde_exact_final,dtype\n";
    std::cout << "fig3_q_drift: loss " << convention << ", X = I, Y ~ N(0, " << target_std << "^2), U, V ~ N(0, "
              << init_std << "^2), seed " << seed
              << (published ? "; published: PyTorch's draws, the reference code's Q and normalisation" : "")
              << "; arithmetic " << dtype << "\n";
    std::cout << "  activation  lr      steps   loss_0 -> loss_end        Q_0        Q_end - Q_0   delta Q~ (end)\n";
    for (const Job& job : jobs) {
      const Row& first = job.rows.front();
      double max_drift = 0;
      for (const Row& r : job.rows) {
        max_drift = std::max(max_drift, std::abs(r.delta_q_tilde));
        csv << job.activation << ',' << job.lr << ',' << r.step << ',' << job.lr * static_cast<double>(r.step) << ','
            << r.loss << ',' << r.q << ',' << r.q - first.q << ',' << r.q_tilde << ',' << r.delta_q_tilde << ','
            << r.f1 << ',' << r.f2 << ',' << r.bound << ',' << r.delta_q_tilde_exact << '\n';
      }
      const Row& last = job.rows.back();
      const double drift_end = last.delta_q_tilde;
      summary << job.activation << ',' << job.lr << ',' << job.steps << ',' << loss_name << ',' << first.loss << ','
              << last.loss << ',' << first.q << ',' << last.q << ',' << last.q - first.q << ',' << drift_end << ','
              << max_drift << ',' << job.seconds << ',' << (published ? "published" : "symflow") << ','
              << last.delta_q_tilde_exact << ',' << dtype << '\n';
      std::ostringstream line;
      line << "  " << std::left << std::setw(10) << job.activation << "  " << std::setw(6) << job.lr << "  "
           << std::setw(6) << job.steps << "  " << std::setprecision(4) << first.loss << " -> " << std::setw(12)
           << last.loss << "  " << std::setw(9) << first.q << "  " << std::setw(12) << last.q - first.q << "  "
           << drift_end;
      if (published) line << "  (Q evaluated in double: " << last.delta_q_tilde_exact << ")";
      std::cout << line.str() << "\n";
    }
    sf::examples::close_csv(csv, out / "drift.csv");
    sf::examples::close_csv(summary, out / "drift_summary.csv");
  }
  std::cout << "gradient descent took " << std::fixed << std::setprecision(1) << seconds << " s in total\n"
            << std::defaultfloat;
  std::cout << "wrote " << (out / "drift.csv").string() << " and " << (out / "drift_summary.csv").string() << "\n";
  if (sf::examples::render("fig3_q_drift.gp", out)) std::cout << "wrote " << (out / "q_drift.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig3_q_drift", [&] { return run_example(argc, argv); });
}
