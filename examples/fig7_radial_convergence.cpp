// Figure 7 (Appendix F.2–F.3): gradient descent on the radial factorisation F = U g(Vᵀ),
// g(z) = z/‖z‖² on each row (h(r) = r⁻², Prop. 15), from spectral initialisations at four values of
// the conserved quantity Q = Tr[UᵀU + VᵀV], with the convergence rate that Prop. 16 predicts.
//
// Setting (the paper's): Y ∈ R^{5×10} with N(0, 1) entries, U ∈ R^{5×5}, V ∈ R^{10×5}, X = I_10;
// gradient descent at learning rate 1e-5 on the mean squared error (PyTorch's MSELoss, which the
// paper's experiments use) for 10⁶ steps.
//
// Spectral initialisation (Prop. 14): with Y = ΦΣ_YΨᵀ, U₀ = Φ diag(ū), V₀ = Ψ₅ diag(v̄), so that
// F = Φ diag(σ^X) Ψ₅ᵀ with σ_i^X = ū_i/v̄_i, and gradient descent keeps that form. Each mode keeps
// λ_i = ū_i² + v̄_i² (eq. 65) under gradient flow, Q = Σ_i λ_i, and moves by eq. (59),
//     dσ_i^X/dt = (σ_i^Y − σ_i^X)(σ_i^X² + 1)²/λ_i,
// so |σ_i^X(t) − σ_i^Y| ≤ |σ_i^X(0) − σ_i^Y| e^{−t/λ_i} (eq. 69), with t the gradient-flow time of
// ½‖Y − F‖². Gradient descent on the mean squared error at learning rate η advances that time by
// τ = 2η/(m·n) per step. Every run starts at the same function (σ_i^X(0) = 1 for every mode, so the
// same loss) and spreads Q evenly over the modes, λ_i = Q/5: the runs differ in Q alone.
//
// --published runs the reference code's configuration (docs/figures.md#figure-7-radial-networks-
// with-spectral-initialisation): float32 arithmetic as PyTorch's default; Y drawn as
// torch.manual_seed(12345) draws it; for μ = 0.01, 0.1, 1, 10, Ū ∈ R^{5×5} and V̄ ∈ R^{10×5} drawn
// N(μ, μ²) after that seed each, off-diagonal entries dropped, U = ΦŪ, V = ΨV̄ (ū_i = μ(1 + z_i),
// v̄_i = μ(1 + z′_i) with the same z for every μ: one function, Q ∝ μ²); learning rate 1e-5, 10⁶
// steps; the legends are Q = ‖Ū‖² + ‖V̄‖², the curves the mean squared error over ‖Y‖_F. The summary
// counts the entries of U and V that gradient descent changed at all (changed_u, changed_v) and those
// whose first update is at least half a unit in the last place of the entry (predicted_changed):
// in float32 at μ = 10 most updates round away. --dtype double runs the same draws in float64.
//
// Writes fig7_loss.csv (loss and the bound of eq. 69 per recorded step), fig7_modes.csv (σ_i^X, λ_i
// and the measured and predicted per-mode rates), fig7_prediction.csv (σ_i^X(t) solving eq. 59 for
// one Q), fig7_series.gp and fig7_radial_convergence.png.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/progress.hpp"
#include "support/series.hpp"
#include "support/torch_draws.hpp"

namespace {

namespace sf = symflow;

constexpr int n_in = 10, rank = 5, n_out = 5;
using Model = sf::RadialFactorization<double, sf::InverseSquare, n_in, rank, n_out>;
using Inputs = Eigen::Matrix<double, n_in, n_in>;
using Targets = Eigen::Matrix<double, n_out, n_in>;
using Modes = Eigen::Matrix<double, rank, 1>;

struct Settings {
  double learning_rate = 1e-5;
  long steps = 1000000;
  long record_every = 1000;
  double start = 1.0;  // σ_i^X(0) for every mode
};

struct Record {
  long step = 0;
  double loss = 0, q = 0, spectral_residual = 0;
  Modes sigma, lambda, rate_measured, rate_predicted;
};

struct Result {
  std::vector<Record> records;
  int changed_u = 0, changed_v = 0;  // entries of U and of V that differ from θ₀ at the end
  int predicted_changed = 0;         // entries whose first update is at least ½ulp of the entry
  std::string status;
  double seconds = 0;
};

/// Steps between progress reports.
constexpr long report_every = 10000;

/// Whether the update x − step, rounded to Scalar, differs from x: |step| ≥ ½ulp(x) (ties aside).
template <class Scalar>
bool update_survives(double x, double step) {
  const Scalar w = Scalar(x);
  const double ulp = double(std::nextafter(std::abs(w), std::numeric_limits<Scalar>::infinity())) - std::abs(double(w));
  return std::abs(double(Scalar(step))) >= ulp / 2;
}

/// Gradient descent in Scalar (float: PyTorch's default, double) from the spectral initialisation θ₀;
/// records every `record_every` steps, and the step after each record to measure dσ^X/dt, all
/// evaluated in double.
template <class Scalar>
Result train(const Model::Params& theta0, const Settings& s, const Model& model,
             const sf::SpectralBasis<double, n_out, n_in>& basis, const Targets& y, double tau,
             sf::examples::Progress& progress) {
  using ModelT = sf::RadialFactorization<Scalar, sf::InverseSquare, n_in, rank, n_out>;
  const ModelT model_t;
  const sf::Objective objective(model_t, sf::MeanSquaredError{}, Eigen::Matrix<Scalar, n_in, n_in>::Identity().eval(),
                                y.cast<Scalar>().eval());
  const sf::RadialFactorizationQuantity<Model> quantity(model);  // Q_i = ½(‖u_i‖² + ‖v_i‖²) = λ_i/2
  typename ModelT::Params theta = theta0.cast<Scalar>();
  const Model::Params start_point = theta.template cast<double>();
  const Modes sigma_y = basis.values.head<rank>();

  Result r;
  Record pending;
  bool measuring = false;
  auto observe = [&](const sf::Snapshot<typename ModelT::Params>& snap) {
    const long step = static_cast<long>(snap.step);
    if (step > 0 && step % report_every == 0) progress.add(report_every);
    if (step == 0)
      for (Eigen::Index j = 0; j < snap.theta.size(); ++j)
        r.predicted_changed += update_survives<Scalar>(start_point[j], s.learning_rate * double(snap.gradient[j]));
    if (measuring && step == pending.step + 1) {
      // dσ/dt measured over one step, against eq. (59) at the start of the step.
      const Modes sigma = sf::mode_values(model, basis, snap.theta.template cast<double>().eval());
      pending.rate_measured = (sigma - pending.sigma) / tau;
      r.records.push_back(pending);
      measuring = false;
    }
    if (step % s.record_every != 0 && !snap.last) return;
    const Model::Params at = snap.theta.template cast<double>();
    Record rec;
    rec.step = step;
    rec.loss = double(snap.loss);
    rec.lambda = 2 * quantity.value(at);
    rec.q = rec.lambda.sum();
    rec.sigma = sf::mode_values(model, basis, at);
    rec.spectral_residual = sf::spectral_residual(model, basis, at);
    for (int i = 0; i < rank; ++i) rec.rate_predicted[i] = sf::mode_rate(rec.sigma[i], sigma_y[i], rec.lambda[i]);
    if (snap.last) {
      rec.rate_measured.setConstant(std::nan(""));
      r.records.push_back(rec);
    } else {
      pending = rec;
      measuring = true;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  const auto status = sf::run(sf::GradientDescent{Scalar(s.learning_rate)}, objective, theta,
                              sf::Stopping{.max_steps = s.steps}, observe);
  const Model::Params end_point = theta.template cast<double>();
  for (Eigen::Index j = 0; j < rank * n_out; ++j) r.changed_u += end_point[j] != start_point[j];
  for (Eigen::Index j = rank * n_out; j < end_point.size(); ++j) r.changed_v += end_point[j] != start_point[j];
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = status.message();
  return r;
}

using sf::examples::format;

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figure 7: radial factorisation U g(V^T) from spectral initialisations at four Q, with Prop. 16's rate"};
  std::string out_dir = "out/fig7_radial_convergence";
  std::uint64_t seed = 12345;
  bool quick = false;
  Settings s;
  std::vector<double> qs{0.002, 0.2, 20, 2000};
  double detail_q = 0.2;
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "seed of Y");
  app.add_flag("--quick", quick,
               "a short run for the tests: 20 000 steps at learning rate 1e-6 (with --published: at its 1e-5)");
  app.add_option("--lr", s.learning_rate, "learning rate (mean squared error)")->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps")->capture_default_str();
  app.add_option("--q", qs, "values of Q = Tr[UᵀU + VᵀV] = Σ λ_i (λ_i = Q/5)")->capture_default_str();
  app.add_option("--start", s.start, "σ_i^X(0), the same for every mode and run")->capture_default_str();
  app.add_option("--detail-q", detail_q, "the Q whose modes the second panel shows")->capture_default_str();
  app.add_option("--record-every", s.record_every, "steps between CSV rows")->capture_default_str();
  bool published = false;
  std::string dtype;
  std::vector<double> mus{0.01, 0.1, 1, 10};
  app.add_flag("--published", published,
               "the reference code's configuration: float32, Y and the spectral factors drawn as "
               "torch.manual_seed(seed) draws them (default seed 12345), ū, v̄ ~ N(μ, μ²) for each --mu");
  app.add_option("--mu", mus, "--published: mean and standard deviation μ of the entries of Ū and V̄")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--dtype", dtype,
                 "arithmetic of the training: float (PyTorch's default, that of --published) or double (default "
                 "otherwise); --published --dtype double isolates what float32 changes")
      ->check(CLI::IsMember({"float", "double"}));
  CLI11_PARSE(app, argc, argv);
  if (published && (app.count("--q") > 0 || app.count("--start") > 0 || app.count("--detail-q") > 0))
    throw std::invalid_argument("--published draws Q and σ^X(0) from --mu as the reference code; drop --q, --start, "
                                "--detail-q");
  if (!published && app.count("--mu") > 0) throw std::invalid_argument("--mu goes with --published");
  if (published && app.count("--seed") == 0) seed = 12345;
  if (dtype.empty()) dtype = published ? "float" : "double";
  if (quick) {
    // The published configuration keeps its learning rate: the quick run is its first 20 000 steps.
    if (!published) s.learning_rate = 1e-6;
    s.steps = 20000;
    s.record_every = published ? 10 : 200;
  }
  // One gradient-descent step on (1/(m n))‖Y − F‖² is a step of 2η/(m n) on ½‖Y − F‖².
  const double tau = 2 * s.learning_rate / (n_out * n_in);

  Targets y;
  if (published) {
    y = sf::examples::torch_seeded_normal(seed, n_out, n_in, 0.0f, 1.0f).cast<double>();
  } else {
    std::mt19937_64 rng(seed);
    y = sf::random_normal<Targets>(n_out, n_in, rng);
  }
  const auto basis = sf::spectral_basis(y);
  const Model model;
  const Modes sigma_y = basis.values.head<rank>();

  // θ₀ of each run. symflow's: λ_i = Q/5, σ_i^X(0) = start. The reference code's: after
  // torch.manual_seed(seed), Ū = rand(5, 5).normal_(μ, μ) and again V̄ = rand(10, 5).normal_(μ, μ),
  // their diagonals ū, v̄; U = ΦŪ, V = ΨV̄; its legend Q = ‖Ū‖² + ‖V̄‖² = Σ λ_i.
  std::vector<Model::Params> starts;
  if (published) {
    qs.clear();
    for (double mu : mus) {
      const auto ubar = sf::examples::torch_seeded_normal(seed, rank, rank, float(mu), float(mu));
      const auto vbar = sf::examples::torch_seeded_normal(seed, n_in, rank, float(mu), float(mu));
      const Modes u = ubar.diagonal().cast<double>(), v = vbar.diagonal().head<rank>().cast<double>();
      starts.push_back(sf::spectral_initialization(model, basis, u, v));
      qs.push_back(u.squaredNorm() + v.squaredNorm());
    }
    detail_q = qs[std::min<std::size_t>(1, qs.size() - 1)];
  } else {
    for (double q : qs)
      starts.push_back(sf::spectral_initialization_at(model, basis, Modes::Constant(q / rank), Modes::Constant(s.start)));
  }
  const auto detail = std::find_if(qs.begin(), qs.end(), [&](double q) { return std::abs(q / detail_q - 1) < 1e-9; });
  if (detail == qs.end()) {
    std::cerr << "fig7_radial_convergence: --detail-q " << detail_q << " is none of the values of --q\n";
    return 1;
  }
  std::cerr << "fig7_radial_convergence: " << qs.size() << " runs of " << s.steps << " steps at lr " << s.learning_rate
            << " in " << dtype << ", seed " << seed
            << (published ? "; published: PyTorch's draws of the spectral factors, ū, v̄ ~ N(mu, mu^2)" : "") << "\n";
  const auto start = std::chrono::steady_clock::now();
  sf::examples::Progress progress("gradient-descent steps",
                                  std::max(static_cast<long>(qs.size()) * (s.steps / report_every * report_every), 1L));
  std::mutex print;
  // Each run depends on its Q alone; symflow::sweep returns the results in item order (independent
  // of the number of threads).
  std::vector<Result> results;
  try {
    results = sf::sweep(qs.size(), [&](std::uint64_t i) {
      Result r = dtype == "float" ? train<float>(starts[i], s, model, basis, y, tau, progress)
                                  : train<double>(starts[i], s, model, basis, y, tau, progress);
      const std::lock_guard<std::mutex> lock(print);
      std::cerr << "  Q = " << qs[i] << ": " << r.status << " (" << format(r.seconds, 3) << " s)\n";
      return r;
    });
  } catch (const std::exception& e) {
    std::cerr << "fig7_radial_convergence: " << e.what() << "\n";
    return 1;
  }

  const auto out = sf::examples::prepare_output(out_dir);
  // The rows of each series in the CSVs, for the plot: run i in fig7_loss.csv, (run i, mode k) in
  // fig7_modes.csv, mode k in fig7_prediction.csv.
  sf::examples::RowRanges loss_rows, mode_rows, prediction_rows;
  {
    // The loss and the bound of eq. (69) on it: (1/(m n)) Σ_i (σ_i^Y − σ_i^X(0))² e^{−2t/λ_i}.
    auto csv = sf::examples::open_csv(out / "fig7_loss.csv");
    csv << "q,step,time,loss,bound_eq69,q_measured,spectral_residual\n";
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const Record& first = results[i].records.front();
      loss_rows.add(results[i].records.size());
      for (const Record& rec : results[i].records) {
        const double t = tau * static_cast<double>(rec.step);
        double bound = 0;
        for (int k = 0; k < rank; ++k) {
          const double b = sf::mode_bound(t, first.sigma[k], sigma_y[k], first.lambda[k]);
          bound += b * b;
        }
        bound /= n_out * n_in;
        csv << format(qs[i]) << ',' << rec.step << ',' << t << ',' << rec.loss << ',' << bound << ',' << rec.q << ','
            << rec.spectral_residual << '\n';
      }
    }
  }
  {
    auto csv = sf::examples::open_csv(out / "fig7_modes.csv");
    csv << "q,mode,step,time,sigma_x,sigma_y,lambda,rate_measured,rate_predicted,gap,bound_eq69\n";
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const Record& first = results[i].records.front();
      for (int k = 0; k < rank; ++k) {
        mode_rows.add(results[i].records.size());
        for (const Record& rec : results[i].records) {
          const double t = tau * static_cast<double>(rec.step);
          csv << format(qs[i]) << ',' << k << ',' << rec.step << ',' << t << ',' << rec.sigma[k] << ',' << sigma_y[k]
              << ',' << rec.lambda[k] << ',' << rec.rate_measured[k] << ',' << rec.rate_predicted[k] << ','
              << std::abs(rec.sigma[k] - sigma_y[k]) << ',' << sf::mode_bound(t, first.sigma[k], sigma_y[k], first.lambda[k])
              << '\n';
        }
      }
    }
  }
  {
    // σ_i^X(t) solving eq. (59) for Q = detail_q, as the curve (t(a), a): t(a) = λ ∫_{a0}^{a} ds /
    // ((σ^Y − s)(s² + 1)²) (symflow::mode_time), for gaps |σ^Y − a| = |σ^Y − a0| e^{−u}.
    auto csv = sf::examples::open_csv(out / "fig7_prediction.csv");
    csv << "q,mode,time,step,sigma_x,gap\n";
    const Record& first = results[static_cast<std::size_t>(detail - qs.begin())].records.front();
    const double t_end = tau * static_cast<double>(s.steps);
    for (int k = 0; k < rank; ++k) {
      const double start_k = published ? first.sigma[k] : s.start;
      const double lambda = published ? first.lambda[k] : detail_q / rank;
      const double gap0 = sigma_y[k] - start_k;
      std::size_t rows = 0;
      // Down to gaps of e^{−28} ≈ 7e-13 of the first, where gradient descent reaches its rounding floor.
      for (double u = 0; u <= 28; u += 0.01, ++rows) {
        const double a = sigma_y[k] - gap0 * std::exp(-u);
        const double t = u == 0 ? 0.0 : sf::mode_time(start_k, a, sigma_y[k], lambda);
        if (t > t_end) break;
        csv << format(detail_q) << ',' << k << ',' << t << ',' << t / tau << ',' << a << ',' << std::abs(sigma_y[k] - a)
            << '\n';
      }
      prediction_rows.add(rows);
    }
  }
  {
    auto csv = sf::examples::open_csv(out / "fig7_summary.csv");
    const std::string header =
        "q,lambda_per_mode,steps,learning_rate,time,loss0,loss_final,q_final,max_spectral_residual,mu,changed_u,"
        "changed_v,predicted_changed,y_norm,dtype,configuration";
    csv << header << '\n';
    std::cout << "fig7_radial_convergence: mean squared error; time = gradient-flow time of 1/2 ||Y - F||^2\n"
              << header << '\n';
    for (std::size_t i = 0; i < qs.size(); ++i) {
      double residual = 0;
      for (const Record& rec : results[i].records) residual = std::max(residual, rec.spectral_residual);
      const std::string line = format(qs[i]) + ',' + format(qs[i] / rank) + ',' + std::to_string(s.steps) + ',' +
                               format(s.learning_rate) + ',' + format(tau * static_cast<double>(s.steps)) + ',' +
                               format(results[i].records.front().loss) + ',' + format(results[i].records.back().loss) +
                               ',' + format(results[i].records.back().q) + ',' + format(residual) + ',' +
                               (published ? format(mus[i]) : std::string("nan")) + ',' +
                               std::to_string(results[i].changed_u) + ',' + std::to_string(results[i].changed_v) + ',' +
                               std::to_string(results[i].predicted_changed) + ',' + format(y.norm()) + ',' + dtype +
                               ',' + (published ? "published" : "symflow");
      csv << line << '\n';
      std::cout << line << '\n';
    }
  }
  {
    auto gp = sf::examples::open_csv(out / "fig7_series.gp");
    gp << "published = " << (published ? 1 : 0) << "\ny_norm = " << format(y.norm()) << "\nruns = " << qs.size() << "\ndetail_q = " << format(detail_q) << "\nlearning_rate = '" << format(s.learning_rate)
       << "'\nmodes = " << rank << '\n';
    for (std::size_t i = 0; i < qs.size(); ++i) gp << "q_" << i + 1 << " = " << format(qs[i]) << '\n';
    gp << "detail_run = " << detail - qs.begin() + 1 << '\n';
    loss_rows.write(gp, "loss_");
    mode_rows.write(gp, "modes_");
    prediction_rows.write(gp, "prediction_");
    for (int k = 0; k < rank; ++k) gp << "sigma_y_" << k + 1 << " = " << format(sigma_y[k], 4) << '\n';
    // Lower ends of the logarithmic axes: a decade below the smallest loss and mode distance reached.
    double loss_floor = 1, gap_floor = 1;
    for (const Result& r : results)
      for (const Record& rec : r.records) {
        loss_floor = std::min(loss_floor, rec.loss);
        for (int k = 0; k < rank; ++k)
          if (rec.sigma[k] != sigma_y[k]) gap_floor = std::min(gap_floor, std::abs(rec.sigma[k] - sigma_y[k]));
      }
    gp << "loss_floor = " << std::max(loss_floor / 10, 1e-300) << "\ngap_floor = " << std::max(gap_floor / 10, 1e-300)
       << '\n';
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote fig7_loss.csv, fig7_modes.csv, fig7_prediction.csv and fig7_summary.csv in " << out.string()
            << " (" << format(seconds, 3) << " s)\n";
  if (sf::examples::render("fig7_radial_convergence.gp", out))
    std::cout << "wrote " << (out / "fig7_radial_convergence.png").string() << "\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig7_radial_convergence", [&] { return run_example(argc, argv); });
}
