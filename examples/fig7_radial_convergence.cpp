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
// Writes fig7_loss.csv (loss and the bound of eq. 69 per recorded step), fig7_modes.csv (σ_i^X, λ_i
// and the measured and predicted per-mode rates), fig7_prediction.csv (σ_i^X(t) solving eq. 59 for
// one Q), fig7_series.gp and fig7_radial_convergence.png.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/progress.hpp"
#include "support/series.hpp"

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
  std::string status;
  double seconds = 0;
};

/// Gradient descent from the spectral initialisation with λ_i = q/5 and σ_i^X(0) = settings.start;
/// records every `record_every` steps, and the step after each record to measure dσ^X/dt.
/// Steps between progress reports.
constexpr long report_every = 10000;

Result train(double q, const Settings& s, const Model& model, const sf::SpectralBasis<double, n_out, n_in>& basis,
             const Targets& y, double tau, sf::examples::Progress& progress) {
  const sf::Objective objective(model, sf::MeanSquaredError{}, Inputs::Identity().eval(), y);
  const sf::RadialFactorizationQuantity<Model> quantity(model);  // Q_i = ½(‖u_i‖² + ‖v_i‖²) = λ_i/2
  const Modes lambda0 = Modes::Constant(q / rank);
  Model::Params theta = sf::spectral_initialization_at(model, basis, lambda0, Modes::Constant(s.start));
  const Modes sigma_y = basis.values.head<rank>();

  Result r;
  Record pending;
  bool measuring = false;
  auto observe = [&](const sf::Snapshot<Model::Params>& snap) {
    const long step = static_cast<long>(snap.step);
    if (step > 0 && step % report_every == 0) progress.add(report_every);
    if (measuring && step == pending.step + 1) {
      // dσ/dt measured over one step, against eq. (59) at the start of the step.
      const Modes sigma = sf::mode_values(model, basis, snap.theta);
      pending.rate_measured = (sigma - pending.sigma) / tau;
      r.records.push_back(pending);
      measuring = false;
    }
    if (step % s.record_every != 0 && !snap.last) return;
    Record rec;
    rec.step = step;
    rec.loss = snap.loss;
    rec.lambda = 2 * quantity.value(snap.theta);
    rec.q = rec.lambda.sum();
    rec.sigma = sf::mode_values(model, basis, snap.theta);
    rec.spectral_residual = sf::spectral_residual(model, basis, snap.theta);
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
  const auto status = sf::run(sf::GradientDescent{s.learning_rate}, objective, theta,
                              sf::Stopping{.max_steps = s.steps}, observe);
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
  app.add_flag("--quick", quick, "a short run at learning rate 1e-6 (20 000 steps) for the tests");
  app.add_option("--lr", s.learning_rate, "learning rate (mean squared error)")->capture_default_str();
  app.add_option("--steps", s.steps, "gradient-descent steps")->capture_default_str();
  app.add_option("--q", qs, "values of Q = Tr[UᵀU + VᵀV] = Σ λ_i (λ_i = Q/5)")->capture_default_str();
  app.add_option("--start", s.start, "σ_i^X(0), the same for every mode and run")->capture_default_str();
  app.add_option("--detail-q", detail_q, "the Q whose modes the second panel shows")->capture_default_str();
  app.add_option("--record-every", s.record_every, "steps between CSV rows")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    s.learning_rate = 1e-6;
    s.steps = 20000;
    s.record_every = 200;
  }
  const auto detail = std::find_if(qs.begin(), qs.end(), [&](double q) { return std::abs(q / detail_q - 1) < 1e-9; });
  if (detail == qs.end()) {
    std::cerr << "fig7_radial_convergence: --detail-q " << detail_q << " is none of the values of --q\n";
    return 1;
  }
  // One gradient-descent step on (1/(m n))‖Y − F‖² is a step of 2η/(m n) on ½‖Y − F‖².
  const double tau = 2 * s.learning_rate / (n_out * n_in);

  std::mt19937_64 rng(seed);
  const Targets y = sf::random_normal<Targets>(n_out, n_in, rng);
  const auto basis = sf::spectral_basis(y);
  const Model model;
  const Modes sigma_y = basis.values.head<rank>();

  std::cerr << "fig7_radial_convergence: " << qs.size() << " runs of " << s.steps << " steps at lr " << s.learning_rate
            << "\n";
  const auto start = std::chrono::steady_clock::now();
  sf::examples::Progress progress("gradient-descent steps",
                                  std::max(static_cast<long>(qs.size()) * (s.steps / report_every * report_every), 1L));
  std::mutex print;
  // Each run depends on its Q alone; symflow::sweep returns the results in item order (independent
  // of the number of threads).
  std::vector<Result> results;
  try {
    results = sf::sweep(qs.size(), [&](std::uint64_t i) {
      Result r = train(qs[i], s, model, basis, y, tau, progress);
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
    const double lambda = detail_q / rank;
    const double t_end = tau * static_cast<double>(s.steps);
    for (int k = 0; k < rank; ++k) {
      const double gap0 = sigma_y[k] - s.start;
      std::size_t rows = 0;
      // Down to gaps of e^{−28} ≈ 7e-13 of the first, where gradient descent reaches its rounding floor.
      for (double u = 0; u <= 28; u += 0.01, ++rows) {
        const double a = sigma_y[k] - gap0 * std::exp(-u);
        const double t = sf::mode_time(s.start, a, sigma_y[k], lambda);
        if (t > t_end) break;
        csv << format(detail_q) << ',' << k << ',' << t << ',' << t / tau << ',' << a << ',' << std::abs(sigma_y[k] - a)
            << '\n';
      }
      prediction_rows.add(rows);
    }
  }
  {
    auto csv = sf::examples::open_csv(out / "fig7_summary.csv");
    const std::string header = "q,lambda_per_mode,steps,learning_rate,time,loss0,loss_final,q_final,max_spectral_residual";
    csv << header << '\n';
    std::cout << "fig7_radial_convergence: mean squared error; time = gradient-flow time of 1/2 ||Y - F||^2\n"
              << header << '\n';
    for (std::size_t i = 0; i < qs.size(); ++i) {
      double residual = 0;
      for (const Record& rec : results[i].records) residual = std::max(residual, rec.spectral_residual);
      const std::string line = format(qs[i]) + ',' + format(qs[i] / rank) + ',' + std::to_string(s.steps) + ',' +
                               format(s.learning_rate) + ',' + format(tau * static_cast<double>(s.steps)) + ',' +
                               format(results[i].records.front().loss) + ',' + format(results[i].records.back().loss) +
                               ',' + format(results[i].records.back().q) + ',' + format(residual);
      csv << line << '\n';
      std::cout << line << '\n';
    }
  }
  {
    auto gp = sf::examples::open_csv(out / "fig7_series.gp");
    gp << "runs = " << qs.size() << "\ndetail_q = " << format(detail_q) << "\nlearning_rate = '" << format(s.learning_rate)
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
