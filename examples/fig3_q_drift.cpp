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
#include <sstream>
#include <string>
#include <vector>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/progress.hpp"
#include "support/series.hpp"

namespace sf = symflow;

namespace {

constexpr int input = 10, hidden = 50, output = 5;

/// One recorded point of a run.
struct Row {
  long step;
  double loss, q, q_tilde, delta_q_tilde, f1, f2, bound;
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

template <class Act, class LossT>
void run_job(Job& job, const Eigen::Matrix<double, output, input>& y, const Eigen::VectorXd& theta0,
             const LossT& loss, sf::examples::Progress& progress) {
  using Net = sf::TwoLayer<double, Act, input, hidden, output>;
  const Net net;
  const Eigen::Matrix<double, input, input> x = Eigen::Matrix<double, input, input>::Identity();
  const sf::Objective objective(net, loss, x, y);
  const sf::ElementwiseQuantity<Net> quantity(net);
  typename Net::Params theta = theta0;
  // Q̃ = |f₁ − f₂| / (f₁(θ₀) + |f₂(θ₀)|) and ΔQ̃ = Q̃(θ_t) − Q̃(θ₀), eq. (43).
  const sf::NormalisedDrift drift(quantity, theta);
  const auto start = std::chrono::steady_clock::now();
  double bound = 0;  // ½η² Σ_{s<t} ‖∇L(θ_s)‖²: eq. (35) summed, halved for the ½ of eqs. (45) and (48)
  // The driver calls the observer at θ_0, θ_1, …, θ_steps with L and ∇L there, before each step.
  const auto status = sf::run(sf::GradientDescent{job.lr}, objective, theta, sf::Stopping{.max_steps = job.steps},
                              [&](const sf::Snapshot<typename Net::Params>& at) {
                                if (recorded(at.step, job.steps)) {
                                  const double f1 = quantity.outgoing(at.theta), f2 = quantity.incoming(at.theta);
                                  job.rows.push_back({at.step, at.loss, f1 - f2, drift.normalised(at.theta),
                                                      drift.drift(at.theta), f1, f2, bound});
                                }
                                bound += 0.5 * sf::linear_trace_gd_bound(at.gradient, job.lr);
                                if (at.step > 0 && at.step % report_every == 0) progress.add(report_every);
                              });
  if (status.step != job.steps)
    throw std::runtime_error(job.activation + " at lr " + std::to_string(job.lr) + ": " + status.message());
  job.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class LossT>
void dispatch(Job& job, const Eigen::Matrix<double, output, input>& y, const Eigen::VectorXd& theta0,
              const LossT& loss, sf::examples::Progress& progress) {
  if (job.activation == "identity") run_job<sf::Identity>(job, y, theta0, loss, progress);
  else if (job.activation == "relu") run_job<sf::ReLU>(job, y, theta0, loss, progress);
  else if (job.activation == "tanh") run_job<sf::Tanh>(job, y, theta0, loss, progress);
  else if (job.activation == "sigmoid") run_job<sf::Sigmoid>(job, y, theta0, loss, progress);
  else throw std::invalid_argument("unknown activation '" + job.activation + "'");
}

}  // namespace

int main(int argc, char** argv) {
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
  app.add_option("--seed", seed, "random seed for Y and the initial parameters")->capture_default_str();
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
  app.add_flag("--quick", quick, "2000 steps (4000 for sigmoid), for tests");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    steps = 2000;
    sigmoid_steps = 4000;
  }

  std::mt19937_64 rng(seed);
  const auto y = sf::random_normal<Eigen::Matrix<double, output, input>>(output, input, rng, target_std);
  const sf::TwoLayer<double, sf::Identity, input, hidden, output> shape;
  const Eigen::VectorXd theta0 = sf::random_params(shape, rng, init_std);

  // One run per (activation, learning rate). symflow::sweep runs them on the OpenMP threads, the
  // costliest first so that the threads finish together, and returns them in the order it was given.
  // A step of tanh or sigmoid costs about 2.5 of identity or ReLU (their 500 exponentials per step):
  // longest-processing-time-first then leaves no long run to the end.
  std::vector<Job> jobs;
  for (const auto& a : activations)
    for (double lr : lrs) jobs.push_back({a, lr, a == "sigmoid" ? sigmoid_steps : steps, {}});
  const auto cost = [](const Job& job) {
    return static_cast<double>(job.steps) * (job.activation == "tanh" || job.activation == "sigmoid" ? 2.5 : 1.0);
  };
  std::vector<std::size_t> order(jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return cost(jobs[a]) > cost(jobs[b]); });

  const std::string convention = loss_name == "mse" ? "mean squared error (1/(m k)) ||Y - F||^2" : "1/2 ||Y - F||^2";
  std::cerr << "fig3_q_drift: " << jobs.size() << " gradient-descent runs, loss " << convention << "\n";
  long total_steps = 0;
  for (const Job& job : jobs) total_steps += job.steps / report_every * report_every;
  sf::examples::Progress progress("gradient-descent steps", std::max(total_steps, 1L));
  const auto start = std::chrono::steady_clock::now();
  try {
    const std::vector<Job> done = sf::sweep(order.size(), [&](std::uint64_t i) {
      Job job = jobs[order[i]];
      if (loss_name == "mse") dispatch(job, y, theta0, sf::MeanSquaredError{}, progress);
      else dispatch(job, y, theta0, sf::HalfSquaredError{}, progress);
      return job;
    });
    for (std::size_t i = 0; i < order.size(); ++i) jobs[order[i]] = done[i];
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
  }
  {
    auto csv = sf::examples::open_csv(out / "drift.csv");
    csv << "activation,lr,step,time,loss,q,q_change,q_tilde,delta_q_tilde,f1,f2,prop13_bound\n";
    auto summary = sf::examples::open_csv(out / "drift_summary.csv");
    summary << "activation,lr,steps,loss_convention,loss_initial,loss_final,q_initial,q_final,q_change_final,"
               "delta_q_tilde_final,max_abs_delta_q_tilde,seconds\n";
    std::cout << "fig3_q_drift: loss " << convention << ", X = I, Y ~ N(0, " << target_std << "^2), U, V ~ N(0, "
              << init_std << "^2), seed " << seed << "\n";
    std::cout << "  activation  lr      steps   loss_0 -> loss_end        Q_0        Q_end - Q_0   delta Q~ (end)\n";
    for (const Job& job : jobs) {
      const Row& first = job.rows.front();
      double max_drift = 0;
      for (const Row& r : job.rows) {
        max_drift = std::max(max_drift, std::abs(r.delta_q_tilde));
        csv << job.activation << ',' << job.lr << ',' << r.step << ',' << job.lr * static_cast<double>(r.step) << ','
            << r.loss << ',' << r.q << ',' << r.q - first.q << ',' << r.q_tilde << ',' << r.delta_q_tilde << ','
            << r.f1 << ',' << r.f2 << ',' << r.bound << '\n';
      }
      const Row& last = job.rows.back();
      const double drift_end = last.delta_q_tilde;
      summary << job.activation << ',' << job.lr << ',' << job.steps << ',' << loss_name << ',' << first.loss << ','
              << last.loss << ',' << first.q << ',' << last.q << ',' << last.q - first.q << ',' << drift_end << ','
              << max_drift << ',' << job.seconds << '\n';
      std::ostringstream line;
      line << "  " << std::left << std::setw(10) << job.activation << "  " << std::setw(6) << job.lr << "  "
           << std::setw(6) << job.steps << "  " << std::setprecision(4) << first.loss << " -> " << std::setw(12)
           << last.loss << "  " << std::setw(9) << first.q << "  " << std::setw(12) << last.q - first.q << "  "
           << drift_end;
      std::cout << line.str() << "\n";
    }
  }
  std::cout << "gradient descent took " << std::fixed << std::setprecision(1) << seconds << " s in total\n"
            << std::defaultfloat;
  std::cout << "wrote " << (out / "drift.csv").string() << " and " << (out / "drift_summary.csv").string() << "\n";
  if (sf::examples::render("fig3_q_drift.gp", out)) std::cout << "wrote " << (out / "q_drift.png").string() << "\n";
  return 0;
}
