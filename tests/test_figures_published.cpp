// requires: fig3_q_drift fig3_q_drift_published fig3_q_drift_published_double fig4_5_q_distribution fig4_5_q_distribution_published fig6_convergence_published fig6_convergence_published_double fig7_radial_convergence_published fig7_radial_convergence_published_double fig8_hessian_spectrum_published fig8_hessian_spectrum_published_double ensemble_fashion_mnist_published
// The reference code's configurations (--published, docs/figures.md) against symflow's: each check
// is the property that the cause of a difference predicts, on the quick runs ctest makes first.
#include <catch2/catch.hpp>

#include "figure_csv.hpp"

#include "../examples/support/torch_draws.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

using symflow_tests::Csv;
using symflow_tests::quick;

// ---------------------------------------------------------------------------------------------
// PyTorch's draws. torch.manual_seed(s); torch.rand(r, c).normal_(μ, σ) takes 2rc 32-bit words
// of the Mersenne Twister (+16 when 16 ∤ rc) and Box–Muller on blocks of 16.

TEST_CASE("published draws: the first entries of Y are PyTorch's", "[figures][published]") {
  // torch.manual_seed(12345); torch.rand(5, 10).normal_(0, 1) with PyTorch 1.13 (Debian's
  // python3-torch): entries 0–3 and 48–49 in row-major order. log, cos and sin in float may differ
  // from PyTorch's vectorised ones in the last bits, hence 1e-6 relative.
  const auto y = symflow::examples::torch_seeded_normal(12345, 5, 10, 0.0f, 1.0f);
  const double expected[] = {0x1.763dc8p-5, 0x1.e0afc6p-2, 0x1.9282fep-1, -0x1.2bddf2p+0};
  for (int i = 0; i < 4; ++i) CHECK(double(y.data()[i]) == Approx(expected[i]).epsilon(1e-6));
  CHECK(double(y.data()[48]) == Approx(-0x1.9f0674p-1).epsilon(1e-6));
  CHECK(double(y.data()[49]) == Approx(0x1.156f48p+0).epsilon(1e-6));
}

TEST_CASE("published draws: reseeding before U and before V makes 16 entries equal", "[figures][published]") {
  // U = rand(5, 50).normal_ ends with 16 fresh words (16 ∤ 250) at stream positions 500–515; V =
  // rand(10, 50).normal_ starts its normals at position 500: the same 16 words, the same normals.
  const auto u = symflow::examples::torch_seeded_normal(12345, 5, 50, 0.0f, 0.1f);
  const auto v = symflow::examples::torch_seeded_normal(12345, 10, 50, 0.0f, 0.1f);
  int equal = 0;
  for (Eigen::Index i = 0; i < u.size(); ++i)
    for (Eigen::Index j = 0; j < v.size(); ++j) equal += u.data()[i] == v.data()[j];
  CHECK(equal == 16);
  for (int j = 0; j < 16; ++j) CHECK(u.data()[u.size() - 16 + j] == v.data()[j]);
  // Figure 8's shapes the other way round: U (10 × 50) starts with V's (5 × 50) last 16 entries.
  const auto u8 = symflow::examples::torch_seeded_normal(12345, 10, 50, 0.0f, 0.3f);
  const auto v8 = symflow::examples::torch_seeded_normal(12345, 5, 50, 0.0f, 0.3f);
  for (int j = 0; j < 16; ++j) CHECK(u8.data()[j] == v8.data()[v8.size() - 16 + j]);
}

// ---------------------------------------------------------------------------------------------
// Figures 4–5. The reference code's Q is a·Q + b with Q of eq. (48): (a, b) = (2, 0) for identity
// and ReLU (Tr[UᵀU − VᵀV] and ‖U‖² − ‖max(V, 0)‖², no ½), (2, −hn) for tanh (Σcosh² = hn + Σsinh²)
// and (1, −hn) for sigmoid (ΣV + ΣeV = hn + Σ(v + eᵛ − 1)). Its law is the image of Q's law, and
// its mean for linear networks is m − h, eq. (47)'s value.

namespace {

struct Sample {
  double mean, mean_error, variance, variance_error;
};

Sample moments(const Csv& samples, const std::string& config) {
  std::vector<double> q;
  for (std::size_t i = 0; i < samples.rows(); ++i)
    if (samples.text(i, "config") == config) q.push_back(samples.number(i, "q"));
  REQUIRE(q.size() > 100);
  const double k = static_cast<double>(q.size());
  double mean = 0, m2 = 0, m4 = 0;
  for (double x : q) mean += x / k;
  for (double x : q) {
    m2 += (x - mean) * (x - mean) / k;
    m4 += std::pow(x - mean, 4) / k;
  }
  const double variance = m2 * k / (k - 1);
  return {mean, std::sqrt(variance / k), variance, std::sqrt((m4 - (k - 3) / (k - 1) * variance * variance) / k)};
}

}  // namespace

TEST_CASE("figures 4–5 as published: the reference code's Q is a·Q + b of eq. (48), centred at m − h for "
          "linear networks (eq. 47)",
          "[figures][published][fig4_5]") {
  const Csv ours(quick("fig4_5_q_distribution", "q_summary.csv"));
  const Csv code(quick("fig4_5_q_distribution_published", "q_summary.csv"));
  const Csv samples(quick("fig4_5_q_distribution_published", "q_samples.csv"));
  REQUIRE(code.rows() == ours.rows());
  for (std::size_t r = 0; r < code.rows(); ++r) {
    const std::string config = code.text(r, "config"), act = code.text(r, "activation");
    REQUIRE(ours.text(r, "config") == config);
    REQUIRE(code.text(r, "scheme") == "published");
    const double hn = code.number(r, "h") * code.number(r, "n");
    const auto [a, b] = act == "identity" || act == "relu" ? std::pair{2.0, 0.0}
                        : act == "tanh"                    ? std::pair{2.0, -hn}
                                                           : std::pair{1.0, -hn};
    const double mean = a * ours.number(r, "closed_mean") + b, variance = a * a * ours.number(r, "closed_variance");
    const Sample s = moments(samples, config);
    INFO(config << ": sample mean " << s.mean << " ± " << s.mean_error << ", a·E[Q] + b = " << mean
                << "; sample variance " << s.variance << " ± " << s.variance_error << ", a²·Var[Q] = " << variance);
    CHECK(std::abs(code.number(r, "closed_mean") - mean) <= 1e-12 * (1 + std::abs(mean)));
    CHECK(std::abs(code.number(r, "closed_variance") - variance) <= 1e-12 * variance);
    CHECK(std::abs(s.mean - mean) <= 4 * s.mean_error);
    CHECK(std::abs(s.variance - variance) <= 4 * s.variance_error);
    if (act == "identity") {
      // Eq. (47)'s m − h is the centre of the code's Q, twice that of eq. (45)'s ½Tr[UᵀU − VVᵀ].
      const double m_minus_h = code.number(r, "m") - code.number(r, "h");
      CHECK(std::abs(s.mean - m_minus_h) <= 4 * s.mean_error);
      CHECK(std::abs(ours.number(r, "sample_mean") - m_minus_h / 2) <= 4 * ours.number(r, "mean_error"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Figure 3. D.2 says the drift at the largest learning rate "has the same magnitude as those of
// smaller learning rates". In exact arithmetic one step moves Q by O(η²), so at equal flow time
// t = ηk the drift is O(η): 10× less per decade. The reference code's Q (2Q, 2Q, 2Q − hn, Q − hn),
// its normalisation and its draws keep that scaling (checked below in float64 from its draws); what
// breaks it is float32: every step rounds each entry w by up to ½ulp(w) ≤ 2⁻²⁴|w|, which moves Q at
// first order whatever η is. As a random walk over N steps that is at most about
// √(N/3)·2⁻²³·Σw² in Q, i.e. B(N) = √(N/3)·2⁻²³ in ΔQ̃ (normalised by D = f₁ + f₂ ≥ Σw² for identity
// and ReLU; for tanh and sigmoid D only grows with hn), so float32 resolves drifts above B(N) and
// blurs those below it; over the 400 000 steps of the paper the stagnation of updates smaller than
// half an ulp adds a systematic part (docs/errata.md has the full-scale numbers).

namespace {

/// delta_q_tilde (or another column) of each run at each recorded step.
struct DriftRuns {
  std::map<std::pair<std::string, double>, std::map<long, double>> value;
  double at(const std::string& act, double lr, long step) const { return value.at({act, lr}).at(step); }
};

DriftRuns read_runs(const std::string& run, const std::string& column) {
  const Csv csv(quick(run, "drift.csv"));
  DriftRuns d;
  for (std::size_t r = 0; r < csv.rows(); ++r)
    d.value[{csv.text(r, "activation"), csv.number(r, "lr")}][csv.integer(r, "step")] = csv.number(r, column);
  return d;
}

double rounding_walk(long steps) { return std::sqrt(static_cast<double>(steps) / 3) * std::ldexp(1.0, -23); }

}  // namespace

TEST_CASE("figure 3 as published, in float64: the code's Q and draws keep the drift first order in η",
          "[figures][published][fig3]") {
  // The same argument as for symflow's Q: at t = 2 (steps 200 and 2000) the runs at η = 0.01 and
  // 0.001 differ by 10(1 + O(η)). So neither the constants hn of the code's Q nor its draws make
  // the drifts of the same magnitude.
  const DriftRuns d = read_runs("fig3_q_drift_published_double", "delta_q_tilde");
  for (const std::string act : {"identity", "relu", "tanh", "sigmoid"}) {
    INFO(act);
    CHECK(d.at(act, 0.01, 200) / d.at(act, 0.001, 2000) == Approx(10).epsilon(0.05));
  }
}

TEST_CASE("figure 3 as published, in float32: the trajectory departs from float64 by rounding, which does "
          "not shrink with η while the drift does",
          "[figures][published][fig3]") {
  // delta_q_tilde_exact evaluates the code's ΔQ̃ in double from the float32 parameters, so its
  // difference from the float64 run is the effect of float32 arithmetic on the trajectory alone.
  const DriftRuns f32 = read_runs("fig3_q_drift_published", "delta_q_tilde_exact");
  const DriftRuns f64 = read_runs("fig3_q_drift_published_double", "delta_q_tilde");
  const auto last_step = [&](const std::string& act, double lr) { return f64.value.at({act, lr}).rbegin()->first; };
  const auto drift = [&](const std::string& act, double lr) { return f64.at(act, lr, last_step(act, lr)); };
  const auto departure = [&](const std::string& act, double lr) {
    return std::abs(f32.at(act, lr, last_step(act, lr)) - drift(act, lr));
  };
  for (const std::string act : {"identity", "relu", "tanh", "sigmoid"}) {
    INFO(act << ": float64 drift " << drift(act, 0.1) << " (η = 0.1), " << drift(act, 0.001)
              << " (η = 0.001); float32 departs by " << departure(act, 0.1) << " and " << departure(act, 0.001));
    for (double lr : {0.1, 0.01, 0.001}) CHECK(departure(act, lr) <= 6 * rounding_walk(last_step(act, lr)));
    // After the same number of steps the float64 drift falls by more than 50 from η = 0.1 to 0.001
    // (½η² per step; the run at 0.1 has converged, so less than 10⁴), while the rounding of the
    // float32 trajectory stays within a factor 30.
    CHECK(std::abs(drift(act, 0.1)) > 50 * std::abs(drift(act, 0.001)));
    CHECK(departure(act, 0.001) > departure(act, 0.1) / 30);
  }
}

TEST_CASE("figure 3 as published: the code's Q evaluated in float32 rounds by as much as the drift at "
          "η = 0.001 for tanh and sigmoid",
          "[figures][published][fig3]") {
  // Q_code is a sum of 750 terms (250 of U, 500 of V) evaluated in float: each addition rounds by at
  // most ½ulp of a partial sum ≤ D, each cosh or exp by an ulp of a term, so ΔQ̃, a difference of two
  // evaluations, is off by at most 2·750·2⁻²² relative to D. For tanh and sigmoid the constant hn = 500
  // in Q_code and D makes the drift itself 60–80× smaller than with eq. (48)'s Q, so at η = 0.001
  // it is no larger than that rounding.
  const DriftRuns in_float = read_runs("fig3_q_drift_published", "delta_q_tilde");
  const DriftRuns in_double = read_runs("fig3_q_drift_published", "delta_q_tilde_exact");
  const double bound = 2 * 750 * std::ldexp(1.0, -22);
  for (const auto& [run, steps] : in_double.value)
    for (const auto& [step, exact] : steps) {
      INFO(run.first << " at η = " << run.second << ", step " << step);
      CHECK(std::abs(in_float.at(run.first, run.second, step) - exact) <= bound);
    }
  for (const std::string act : {"tanh", "sigmoid"}) {
    INFO(act);
    const long last = in_double.value.at({act, 0.001}).rbegin()->first;
    const double drift = in_double.at(act, 0.001, last);
    CHECK(std::abs(in_float.at(act, 0.001, last) - drift) > 0.5 * std::abs(drift));
  }
}

// ---------------------------------------------------------------------------------------------
// Figure 6. The reference code draws U and V at standard deviations 0.01, 0.1, 1 from one seed, so
// the three runs are one draw scaled (as symflow's); its legends print its Q at θ₀, a·Q + b of
// eq. (48) with the (a, b) of Figures 4–5. Scaling θ₀ by s multiplies Q by s² for identity and ReLU,
// but moves the legend of tanh and sigmoid only around −hn; the curves, ‖Y − F‖_F, end in the order of
// the scale whichever way Q is ordered.

namespace {

/// fig6_summary.csv's rows of one activation, in the order of the scales (0.01, 0.1, 1).
std::vector<std::size_t> fig6_rows(const Csv& summary, const std::string& activation) {
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < summary.rows(); ++r)
    if (summary.text(r, "activation") == activation) rows.push_back(r);
  REQUIRE(rows.size() == 3);
  for (std::size_t j = 1; j < rows.size(); ++j)
    REQUIRE(summary.number(rows[j], "scale") == Approx(10 * summary.number(rows[j - 1], "scale")));
  return rows;
}

}  // namespace

TEST_CASE("figure 6 as published: the three runs are one draw scaled, and the legends are the code's Q, "
          "a·Q + b of eq. (48)",
          "[figures][published][fig6]") {
  const Csv summary(quick("fig6_convergence_published_double", "fig6_summary.csv"));
  const double hn = 500;
  for (const std::string act : {"identity", "relu", "tanh", "sigmoid"}) {
    const auto rows = fig6_rows(summary, act);
    const auto [a, b] = act == "identity" || act == "relu" ? std::pair{2.0, 0.0}
                        : act == "tanh"                    ? std::pair{2.0, -hn}
                                                           : std::pair{1.0, -hn};
    for (std::size_t r : rows) {
      INFO(act << " s = " << summary.text(r, "scale") << ": Q = " << summary.text(r, "q0") << ", legend "
               << summary.text(r, "code_q0"));
      REQUIRE(summary.text(r, "configuration") == "published");
      REQUIRE(summary.text(r, "dtype") == "double");
      CHECK(summary.number(r, "code_q0") == Approx(a * summary.number(r, "q0") + b).epsilon(1e-9));
    }
    // One draw: Q is 2-homogeneous for identity and ReLU, so 10× the scale is 100× Q (to the rounding
    // of the float draws, 1e-7). Draws from separate seeds would not be proportional.
    if (act == "identity" || act == "relu")
      for (std::size_t j = 1; j < rows.size(); ++j)
        CHECK(summary.number(rows[j], "q0") == Approx(100 * summary.number(rows[j - 1], "q0")).epsilon(1e-6));
  }
  // tanh: the legend 2Q − hn prints about −hn at the two smaller scales, whatever Q is (Q changes 100×
  // between them); at s = 1, Σ sinh²V is no longer small and the legend leaves −hn.
  const auto tanh = fig6_rows(summary, "tanh");
  for (std::size_t j = 0; j < 2; ++j) CHECK(std::abs(summary.number(tanh[j], "code_q0") + hn) < 0.005 * hn);
  CHECK(std::abs(summary.number(tanh[2], "code_q0") + hn) > 0.5 * hn);
}

TEST_CASE("figure 6 as published: the curves end in the order of the scale, not of the legends' Q",
          "[figures][published][fig6]") {
  // The larger the scale, the further θ₀ is from the saddle at θ = 0 and the sooner ‖Y − F‖_F falls,
  // in float32 as published and in float64 alike. The code's Q at θ₀ runs the opposite ways for
  // identity (more negative with the scale) and ReLU (larger with the scale): it does not set the order.
  for (const std::string run : {"fig6_convergence_published", "fig6_convergence_published_double"}) {
    const Csv summary(quick(run, "fig6_summary.csv"));
    const Csv curves(quick(run, "fig6_convergence.csv"));
    // ‖Y − F‖_F at the last recorded step of each run.
    std::map<std::pair<std::string, std::string>, double> final_residual;
    for (std::size_t r = 0; r < curves.rows(); ++r)
      final_residual[{curves.text(r, "activation"), curves.text(r, "scale")}] = curves.number(r, "residual_norm");
    for (const std::string act : {"identity", "relu", "tanh", "sigmoid"}) {
      const auto rows = fig6_rows(summary, act);
      for (std::size_t j = 1; j < rows.size(); ++j) {
        const double smaller = final_residual.at({act, summary.text(rows[j - 1], "scale")});
        const double larger = final_residual.at({act, summary.text(rows[j], "scale")});
        INFO(run << " " << act << ": final ||Y - F|| " << smaller << " at s = " << summary.text(rows[j - 1], "scale")
                 << ", " << larger << " at s = " << summary.text(rows[j], "scale"));
        CHECK(larger < smaller);
        // The summary's loss_final is the mean squared error: ‖Y − F‖²_F / 50.
        CHECK(larger * larger / 50 == Approx(summary.number(rows[j], "loss_final")).epsilon(1e-6));
      }
    }
    const auto identity = fig6_rows(summary, "identity"), relu = fig6_rows(summary, "relu");
    for (std::size_t j = 1; j < 3; ++j) {
      CHECK(summary.number(identity[j], "code_q0") < summary.number(identity[j - 1], "code_q0"));
      CHECK(summary.number(relu[j], "code_q0") > summary.number(relu[j - 1], "code_q0"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Figure 7. The reference code draws ū, v̄ ~ N(μ, μ²) after one seed for every μ: ū_i = μ(1 + z_i),
// v̄_i = μ(1 + z′_i) with the same z, so every run starts at one function (σ_i^X = ū_i/v̄_i) with
// λ_i ∝ μ². F is unchanged by θ ↦ cθ (g(cv) = g(v)/c) and ∇L(cθ) = ∇L(θ)/c, so gradient descent
// from cθ₀ at learning rate η is c times gradient descent from θ₀ at η/c²: the run at 10μ after 100k
// steps is the run at μ after k steps, up to the first-order error of a step 100× larger relative to
// its time scale (eq. 59 with λ → 100λ is the same flow, slower by 100). In float32 an update of an
// entry w survives only when it is at least ½ulp(w); at μ = 10 (|w| up to 20, η = 10⁻⁵) most do not.

namespace {

/// fig7_loss.csv: loss by (run's Q as written, step), and the runs' Q in increasing order.
struct RadialRuns {
  std::map<std::string, std::map<long, double>> loss;
  std::vector<std::string> q;
};

RadialRuns radial_runs(const std::string& run) {
  const Csv csv(quick(run, "fig7_loss.csv"));
  RadialRuns r;
  for (std::size_t i = 0; i < csv.rows(); ++i) {
    const std::string q = csv.text(i, "q");
    if (r.loss.find(q) == r.loss.end()) r.q.push_back(q);
    r.loss[q][csv.integer(i, "step")] = csv.number(i, "loss");
  }
  return r;
}

/// The largest relative difference between the loss of the run with the smaller Q after k steps and
/// that of the run with 100× its Q after 100k steps, over the recorded k > 0.
double rescaling_mismatch(const RadialRuns& runs, const std::string& small, const std::string& large) {
  double worst = 0;
  int compared = 0;
  for (const auto& [k, loss] : runs.loss.at(small)) {
    const auto it = runs.loss.at(large).find(100 * k);
    if (k == 0 || it == runs.loss.at(large).end()) continue;
    worst = std::max(worst, std::abs(loss - it->second) / it->second);
    ++compared;
  }
  REQUIRE(compared >= 10);
  return worst;
}

}  // namespace

TEST_CASE("figure 7 as published, in float64: the runs are time-rescalings of each other by the ratio of "
          "their Q",
          "[figures][published][fig7]") {
  const RadialRuns runs = radial_runs("fig7_radial_convergence_published_double");
  REQUIRE(runs.q.size() == 4);
  // Q ∝ μ²: the draws share z (separate seeds would give unrelated ratios).
  for (std::size_t j = 1; j < runs.q.size(); ++j)
    CHECK(std::stod(runs.q[j]) / std::stod(runs.q[j - 1]) == Approx(100).epsilon(1e-6));
  // The pair (μ, 10μ) compares steps of relative size ε(μ) ∝ η/λ(μ): 100× larger per decade down in μ,
  // so the first-order mismatch may be 100× larger too. At μ = 1 vs 10 it is 10⁻⁶ (measured).
  double tolerance = 1e-5;
  for (std::size_t j = runs.q.size() - 1; j >= 1; --j, tolerance *= 100) {
    const double mismatch = rescaling_mismatch(runs, runs.q[j - 1], runs.q[j]);
    INFO("Q = " << runs.q[j - 1] << " after k steps against Q = " << runs.q[j] << " after 100k: " << mismatch);
    CHECK(mismatch < tolerance);
  }
}

TEST_CASE("figure 7 as published, in float32: at μ = 10 most updates are smaller than half an ulp and are lost",
          "[figures][published][fig7]") {
  const Csv f32(quick("fig7_radial_convergence_published", "fig7_summary.csv"));
  const Csv f64(quick("fig7_radial_convergence_published_double", "fig7_summary.csv"));
  REQUIRE(f32.rows() == 4);
  REQUIRE(f64.rows() == 4);
  const int entries = 25 + 50;
  for (std::size_t r = 0; r < f32.rows(); ++r) {
    const long changed = f32.integer(r, "changed_u") + f32.integer(r, "changed_v");
    INFO("mu = " << f32.text(r, "mu") << ": float32 changed " << changed << " entries, predicted "
                 << f32.text(r, "predicted_changed"));
    REQUIRE(f32.text(r, "dtype") == "float");
    // In float64 every update survives and every entry moves.
    CHECK(f64.integer(r, "changed_u") + f64.integer(r, "changed_v") == entries);
    CHECK(f64.integer(r, "predicted_changed") == entries);
    // In float32 the entries that move are those whose first update is ≥ ½ulp (the gradient changes
    // little over the quick run, so a few near the threshold may cross it).
    CHECK(std::abs(changed - f32.integer(r, "predicted_changed")) <= 3);
    if (f32.number(r, "mu") == 10) CHECK(changed < entries / 2);
  }
  // So the float32 run at μ = 10 is not the rescaled run at μ = 1: its loss after 100k steps departs from
  // the loss at μ = 1 after k steps by more than the float64 runs' 10⁻⁵.
  const RadialRuns runs = radial_runs("fig7_radial_convergence_published");
  const double mismatch = rescaling_mismatch(runs, runs.q[2], runs.q[3]);
  INFO("float32, Q = " << runs.q[2] << " against " << runs.q[3] << ": " << mismatch);
  CHECK(mismatch > 1e-5);
}

// ---------------------------------------------------------------------------------------------
// Figure 8. The reference code histograms the eigenvalues ≥ 10⁻³ of the Hessian of ‖Y − F‖² (twice
// symflow's ½‖Y − F‖²) at the point reached, with its Q at θ₀ in the legends. At a zero-residual
// minimum that Hessian is 2JᵀJ, J = ∂vec F/∂θ with m·n rows: the cut leaves out the d − mn zero
// eigenvalues and keeps at most mn. Training in float32 stops at a loss of about 10⁻¹⁰ instead of
// 10⁻²⁵, a point of the same minimum to about 10⁻⁵ in θ: the kept eigenvalues do not change visibly.

namespace {

/// fig8_summary.csv's rows of one activation, in the order of the scales.
std::vector<std::size_t> fig8_rows(const Csv& summary, const std::string& activation) {
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < summary.rows(); ++r)
    if (summary.text(r, "activation") == activation) rows.push_back(r);
  REQUIRE(rows.size() == 4);
  return rows;
}

}  // namespace

TEST_CASE("figure 8 as published: the histograms keep the m·n nonzero eigenvalues, the legends are a·Q + b",
          "[figures][published][fig8]") {
  for (const std::string run : {"fig8_hessian_spectrum_published", "fig8_hessian_spectrum_published_double"}) {
    const Csv summary(quick(run, "fig8_summary.csv"));
    for (const std::string act : {"identity", "relu", "tanh", "sigmoid"})
      for (std::size_t r : fig8_rows(summary, act)) {
        INFO(run << " " << act << " s = " << summary.text(r, "scale"));
        REQUIRE(summary.text(r, "configuration") == "published");
        const double hn = summary.number(r, "hidden") * summary.number(r, "input");
        const long mn = summary.integer(r, "output") * summary.integer(r, "input");
        const auto [a, b] = act == "identity" || act == "relu" ? std::pair{2.0, 0.0}
                            : act == "tanh"                    ? std::pair{2.0, -hn}
                                                               : std::pair{1.0, -hn};
        CHECK(summary.number(r, "code_q0") == Approx(a * summary.number(r, "q0") + b).epsilon(1e-9));
        // Every eigenvalue of 2JᵀJ that the cut keeps is one of its mn nonzero ones, and no negative
        // eigenvalue of the Hessian (the residual term) reaches the cut's size.
        CHECK(summary.integer(r, "sum_count") <= mn);
        CHECK(summary.integer(r, "sum_count") + summary.integer(r, "zero_count") == summary.integer(r, "parameters"));
        CHECK(2 * summary.number(r, "lambda_min") > -1e-3);
      }
    // tanh at s = 0.001: Σcosh²V = hn + Σsinh²V ≈ hn, so its legend prints −hn whatever Q is.
    const auto tanh = fig8_rows(summary, "tanh");
    const double hn = summary.number(tanh[0], "hidden") * summary.number(tanh[0], "input");
    CHECK(std::abs(summary.number(tanh[0], "code_q0") + hn) < 1e-3 * hn);
    // The linear network: the centre of the kept eigenvalues grows with the code's Q (the paper's
    // "correlates positively"), both growing with the scale.
    const auto identity = fig8_rows(summary, "identity");
    for (std::size_t j = 1; j < identity.size(); ++j) {
      CHECK(summary.number(identity[j], "code_q0") > summary.number(identity[j - 1], "code_q0"));
      CHECK(summary.number(identity[j], "sum_centre") > summary.number(identity[j - 1], "sum_centre"));
    }
  }
}

TEST_CASE("figure 8 as published: float32 training reaches the same minimum, and the same histogram",
          "[figures][published][fig8]") {
  const Csv f32(quick("fig8_hessian_spectrum_published", "fig8_summary.csv"));
  const Csv f64(quick("fig8_hessian_spectrum_published_double", "fig8_summary.csv"));
  REQUIRE(f32.rows() == f64.rows());
  for (std::size_t r = 0; r < f32.rows(); ++r) {
    INFO(f32.text(r, "activation") << " s = " << f32.text(r, "scale") << ": centre " << f32.text(r, "sum_centre")
                                   << " (float32), " << f64.text(r, "sum_centre") << " (float64); loss "
                                   << f32.text(r, "loss_final") << ", " << f64.text(r, "loss_final"));
    REQUIRE(f32.text(r, "dtype") == "float");
    REQUIRE(f64.text(r, "dtype") == "double");
    // float32 stops well above float64's loss, at the rounding of its parameters (10⁻⁷ relative)…
    CHECK(f32.number(r, "loss_final") > 100 * f64.number(r, "loss_final"));
    CHECK(f32.number(r, "loss_final") < 1e-8);
    // …on the same minimum: the kept eigenvalues have the same count and centre to 10⁻⁴.
    CHECK(f32.integer(r, "sum_count") == f64.integer(r, "sum_count"));
    CHECK(f32.number(r, "sum_centre") == Approx(f64.number(r, "sum_centre")).epsilon(1e-4));
  }
}

// ---------------------------------------------------------------------------------------------
// Appendix H, Figures 9–10 (ensemble_fashion_mnist --published): the notebooks' softmax head under
// F.cross_entropy, and advertorch's attacks called twice with their default box [0, 1] on data in
// [−0.5, 0.5] and PGD at its default radius 0.3.

TEST_CASE("appendix H as published: the softmax head confines every loss to a band of width 1, which hides "
          "the ensembles' loss changes",
          "[figures][published]") {
  const Csv sweep(quick("ensemble_fashion_mnist_published", "published_sweep.csv"));
  REQUIRE(sweep.rows() >= 20);
  // log Σ_c e^{p_c} − p_y over the simplex of 10 classes: from log(e + 9) − 1 to log(e + 9).
  const double top = std::log(std::exp(1.0) + 9.0), bottom = top - 1;
  double head_change = 0, loss_change = 0;
  for (std::size_t i = 0; i < sweep.rows(); ++i) {
    for (const char* column : {"head_loss", "single_head_loss"}) {
      CHECK(sweep.number(i, column) >= bottom - 1e-12);
      CHECK(sweep.number(i, column) <= top + 1e-12);
    }
    if (sweep.text(i, "variant") != "group_exp") continue;
    head_change = std::max(head_change, std::abs(sweep.number(i, "head_loss") - sweep.number(i, "single_head_loss")));
    loss_change = std::max(loss_change, std::abs(sweep.number(i, "loss") - sweep.number(i, "single_loss")));
  }
  // The same group ensembles: their largest loss change as published is a fraction of the change of
  // the cross-entropy of their averaged distribution.
  CHECK(head_change < 0.5 * loss_change);
}

namespace {

// attack, protocol, parameter, target -> the row of published_attacks.csv.
std::map<std::string, std::size_t> attack_rows(const Csv& a) {
  std::map<std::string, std::size_t> rows;
  for (std::size_t i = 0; i < a.rows(); ++i)
    rows[a.text(i, "attack") + '/' + a.text(i, "protocol") + '/' + std::to_string(a.number(i, "parameter")) + '/' +
         a.text(i, "target")] = i;
  return rows;
}

}  // namespace

TEST_CASE("appendix H as published: the clamp to [0, 1] moves every pixel below mid-grey, and is most of the "
          "accuracy lost at the first FGSM radius",
          "[figures][published]") {
  const Csv a(quick("ensemble_fashion_mnist_published", "published_attacks.csv"));
  const auto rows = attack_rows(a);
  const auto at = [&](const std::string& attack, const std::string& protocol, double parameter, const std::string& target) {
    const auto it = rows.find(attack + '/' + protocol + '/' + std::to_string(parameter) + '/' + target);
    REQUIRE(it != rows.end());
    return it->second;
  };
  for (double r : {0.003, 0.006, 0.009, 0.012}) {
    // Two calls move a pixel by at most 2r inside the box; a pixel below −2r is first clamped to 0,
    // so it moves by more: at least the fraction of such pixels is out of the ball.
    const std::size_t published = at("fgsm", "published", r, "single"), once = at("fgsm", "once_in_range", r, "single");
    CHECK(a.number(published, "moved_beyond_bound") >= a.number(published, "below_bound"));
    CHECK(a.number(published, "below_bound") > 0.25);
    CHECK(a.number(published, "max_change") >= 0.5);
    CHECK(a.number(once, "moved_beyond_bound") == 0);
    CHECK(a.number(once, "max_change") <= r + 1e-12);
  }
  const double clean = a.number(at("fgsm", "published", 0, "single"), "accuracy");
  const double clamped = a.number(at("fgsm", "clamp_only", 0.003, "single"), "accuracy");
  const double attacked = a.number(at("fgsm", "published", 0.003, "single"), "accuracy");
  const double intended = a.number(at("fgsm", "once_in_range", 0.003, "single"), "accuracy");
  CHECK(attacked < clean);
  CHECK(clean - clamped > 0.5 * (clean - attacked));
  CHECK(clean - intended < 0.5 * (clean - attacked));
  // PGD at advertorch's default radius 0.3 and random start: one iteration already moves pixels on
  // average by more than ten times the largest FGSM radius.
  CHECK(a.number(at("pgd", "published", 1, "single"), "mean_change") > 10 * 0.012);
  CHECK(a.number(at("pgd", "once_in_range_r0.012", 1, "single"), "max_change") <= 0.012 + 1e-12);
}
