// requires: fig6_convergence fig6_convergence_one_thread fig7_radial_convergence fig7_radial_convergence_one_thread fig8_hessian_spectrum fig8_hessian_spectrum_one_thread
// Specification of what figures 6, 7 and 8 must show, checked on the CSV files their programs write
// in --quick mode (ctest runs the examples on the first line before this program, each sweep also on
// one thread). Every check is a property that holds by mathematics, not a stored number.
#include <catch2/catch.hpp>

#include "figure_csv.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Table = symflow_tests::Csv;
using symflow_tests::quick;

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The rows of one run (activation, scale and, if given, family) of a tidy CSV, in file order; at least one.
std::vector<std::size_t> rows_of(const Table& t, const std::string& activation, const std::string& scale,
                                 const std::string& family = "") {
  std::vector<std::size_t> out;
  const double s = std::stod(scale);
  for (std::size_t r = 0; r < t.size(); ++r)
    if (t.text(r, "activation") == activation && std::abs(t.number(r, "scale") - s) <= 1e-12 * s &&
        (family.empty() || t.text(r, "family") == family))
      out.push_back(r);
  if (out.empty()) throw std::runtime_error("no rows for " + family + " " + activation + " at scale " + scale);
  return out;
}

/// The rows of fig6_summary.csv of one family.
std::vector<std::size_t> family_rows(const Table& summary, const std::string& family) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < summary.size(); ++i)
    if (summary.text(i, "family") == family) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("figure 6: every run is recorded from step 0 to its last step", "[figures][fig6]") {
  const Table summary(quick("fig6_convergence", "fig6_summary.csv"));
  const Table curves(quick("fig6_convergence", "fig6_convergence.csv"));
  CHECK(family_rows(summary, "scale").size() == 12);  // 4 activations × 3 scales
  CHECK(family_rows(summary, "orbit").size() == 6);   // identity and ReLU × 3 values of Q
  for (std::size_t i = 0; i < summary.size(); ++i) {
    const auto rows = rows_of(curves, summary.text(i, "activation"), summary.text(i, "scale"), summary.text(i, "family"));
    INFO(summary.text(i, "family") << " " << summary.text(i, "activation") << " s = " << summary.text(i, "scale"));
    REQUIRE(rows.size() >= 2);
    CHECK(curves.integer(rows.front(), "step") == 0);
    CHECK(curves.integer(rows.back(), "step") == summary.integer(i, "steps"));
    for (std::size_t j = 1; j < rows.size(); ++j) CHECK(curves.integer(rows[j], "step") > curves.integer(rows[j - 1], "step"));
    // The summary's numbers are the curve's first and last rows.
    CHECK(curves.number(rows.front(), "q") == Approx(summary.number(i, "q0")).epsilon(1e-9));
    CHECK(curves.number(rows.back(), "loss") == Approx(summary.number(i, "loss_final")).epsilon(1e-9));
  }
}

TEST_CASE("figure 6: gradient descent moves Q of identity and ReLU networks by at most ½η²Σ‖∇L‖²",
          "[figures][fig6]") {
  // One step changes Q = Σ_k ½‖u_k‖² − Σ Φ(V_kj) by ½η²(‖∇_U L‖² − ‖∇_V L‖²) for σ = identity, and for
  // ReLU by that plus ½v'² ∈ [0, ½η²(∂L/∂v)²] for each weight that crosses zero: |ΔQ| ≤ ½η²‖∇L‖².
  // The column drift_bound is the running sum of the right-hand side; 1e-11 covers the rounding of Q's
  // two terms (each below 10³ here).
  const Table curves(quick("fig6_convergence", "fig6_convergence.csv"));
  const Table summary(quick("fig6_convergence", "fig6_summary.csv"));
  int checked = 0;
  for (std::size_t i = 0; i < summary.size(); ++i) {
    const std::string activation = summary.text(i, "activation");
    if (activation != "identity" && activation != "relu") continue;
    const auto rows = rows_of(curves, activation, summary.text(i, "scale"), summary.text(i, "family"));
    const double q0 = curves.number(rows.front(), "q");
    for (std::size_t r : rows) {
      INFO(summary.text(i, "family") << " " << activation << " s = " << summary.text(i, "scale") << " step "
                                     << curves.text(r, "step"));
      CHECK(std::abs(curves.number(r, "q") - q0) <= curves.number(r, "drift_bound") + 1e-11);
      ++checked;
    }
  }
  CHECK(checked > 100);
}

TEST_CASE("figure 6: Q of identity and ReLU networks is quadratic in the initial scale", "[figures][fig6]") {
  // θ₀ = s θ̂ and Q = ½‖U‖² − ½‖V‖² (identity) or ½‖U‖² − ½‖max(V, 0)‖² (ReLU) is 2-homogeneous.
  const Table summary(quick("fig6_convergence", "fig6_summary.csv"));
  for (const std::string activation : {"identity", "relu"}) {
    std::vector<std::size_t> rows;
    for (std::size_t i : family_rows(summary, "scale"))
      if (summary.text(i, "activation") == activation) rows.push_back(i);
    REQUIRE(rows.size() == 3);
    for (std::size_t j = 1; j < rows.size(); ++j) {
      const double ratio = summary.number(rows[j], "scale") / summary.number(rows[0], "scale");
      CHECK(summary.number(rows[j], "q0") == Approx(ratio * ratio * summary.number(rows[0], "q0")).epsilon(1e-8));
    }
  }
}

TEST_CASE("figure 6: moving along the symmetry orbit sets Q and keeps the function", "[figures][fig6]") {
  // W_1 ↦ cW_1, W_2 ↦ c^{−1}W_2 leaves U σ(V) unchanged for identity and ReLU (σ(cv) = cσ(v), c > 0), so
  // the three "orbit" runs of an activation start at the loss of the draw at s_ref, while their Q is
  // that of the scaled draws.
  const Table summary(quick("fig6_convergence", "fig6_summary.csv"));
  const Table curves(quick("fig6_convergence", "fig6_convergence.csv"));
  for (std::size_t i : family_rows(summary, "orbit")) {
    const std::string activation = summary.text(i, "activation");
    INFO(activation << ", Q of the draw at s = " << summary.text(i, "scale"));
    const std::size_t start = rows_of(curves, activation, summary.text(i, "scale"), "orbit").front();
    const std::size_t same_function = rows_of(curves, activation, summary.text(i, "reference_scale"), "scale").front();
    const std::size_t same_q = rows_of(curves, activation, summary.text(i, "scale"), "scale").front();
    CHECK(curves.number(start, "loss") == Approx(curves.number(same_function, "loss")).epsilon(1e-13));
    CHECK(curves.number(start, "q") == Approx(curves.number(same_q, "q")).epsilon(1e-12));
  }
}

TEST_CASE("figure 6: at learning rate 1e-3 every gradient-descent step lowers the loss", "[figures][fig6]") {
  // Descent lemma: L(θ − η∇L) ≤ L(θ) − η(1 − ηβ/2)‖∇L‖² when the Hessian norm β along the step is
  // below 2/η. Here ηβ < 0.01 (β ≈ 2(‖U‖² + ‖V‖²)_2/(m k) ≤ 8 for the mean squared error at s = 1).
  const Table curves(quick("fig6_convergence", "fig6_convergence.csv"));
  for (std::size_t r = 1; r < curves.size(); ++r) {
    if (curves.text(r, "family") != curves.text(r - 1, "family") ||
        curves.text(r, "activation") != curves.text(r - 1, "activation") ||
        curves.text(r, "scale") != curves.text(r - 1, "scale"))
      continue;
    INFO(curves.text(r, "family") << " " << curves.text(r, "activation") << " s = " << curves.text(r, "scale") << " step "
                                  << curves.text(r, "step"));
    CHECK(curves.number(r, "loss") <= curves.number(r - 1, "loss"));
  }
}

namespace {

/// Rows of fig7_modes.csv grouped by (Q, mode), each group in step order.
std::map<std::pair<std::string, long>, std::vector<std::size_t>> fig7_modes(const Table& t) {
  std::map<std::pair<std::string, long>, std::vector<std::size_t>> out;
  for (std::size_t r = 0; r < t.size(); ++r) out[{t.text(r, "q"), t.integer(r, "mode")}].push_back(r);
  return out;
}

/// τ = 2η/(m n): the gradient-flow time of ½‖Y − F‖² that one step on the mean squared error advances.
double fig7_tau() {
  const Table summary(quick("fig7_radial_convergence", "fig7_summary.csv"));
  return summary.number(0, "time") / summary.number(0, "steps");
}

}  // namespace

TEST_CASE("figure 7: gradient descent stays on the spectral manifold and never lowers any λ_i",
          "[figures][fig7]") {
  // Spectral initialisation puts F = Φ diag(σ^X) Ψᵀ; the gradient keeps that form, so ΦᵀFΨ stays
  // diagonal. λ_i = ‖u_i‖² + ‖v_i‖² is a positive definite quadratic form whose first-order change
  // along −∇L vanishes (it is conserved by the flow), so one step changes it by exactly
  // τ²(‖∂L/∂u_i‖² + ‖∂L/∂v_i‖²) ≥ 0, and it starts at Q/5. Once a mode has converged that increase is
  // below the rounding of λ (a few ulps per step, about 1e-14 over the 200 steps between records).
  const Table loss(quick("fig7_radial_convergence", "fig7_loss.csv"));
  for (std::size_t r = 0; r < loss.size(); ++r) CHECK(loss.number(r, "spectral_residual") <= 1e-12);
  const Table modes(quick("fig7_radial_convergence", "fig7_modes.csv"));
  const auto groups = fig7_modes(modes);
  REQUIRE(groups.size() == 4 * 5);
  for (const auto& [key, rows] : groups) {
    INFO("Q = " << key.first << ", mode " << key.second);
    CHECK(modes.number(rows.front(), "lambda") == Approx(std::stod(key.first) / 5).epsilon(1e-14));
    for (std::size_t j = 1; j < rows.size(); ++j)
      CHECK(modes.number(rows[j], "lambda") >= modes.number(rows[j - 1], "lambda") * (1 - 1e-12));
  }
}

TEST_CASE("figure 7: the measured per-mode rate is eq. (59) to first order in the step", "[figures][fig7]") {
  // Gradient descent with step τ on the mode (ū, v̄), σ = ū/v̄, λ = ū² + v̄²: expanding σ(θ − τ∇L) to
  // second order, (σ_{t+1} − σ_t)/τ = σ̇ (1 + τ e σ (σ² + 1)/λ) + O(τ²κ²), e = σ^Y − σ, with σ̇ from
  // eq. (59) and κ = (σ² + 1)²(1 + |e|)/λ the mode's stiffness. The quick run takes τ = 4e-8
  // (learning rate 1e-6), where τκ ≤ 0.08 for Q = 0.002 and ≤ 2e-4 for the other Q. Rounding of σ
  // (a few ulps) limits the difference quotient to 32ε(1 + |σ|)/τ.
  const double tau = fig7_tau();
  const double eps = std::numeric_limits<double>::epsilon();
  const Table modes(quick("fig7_radial_convergence", "fig7_modes.csv"));
  int resolved = 0, small_step = 0;
  for (std::size_t r = 0; r < modes.size(); ++r) {
    const double measured = modes.number(r, "rate_measured");
    if (std::isnan(measured)) continue;  // the last record has no next step
    const double predicted = modes.number(r, "rate_predicted");
    const double sigma = modes.number(r, "sigma_x"), lambda = modes.number(r, "lambda");
    const double e = modes.number(r, "sigma_y") - sigma;
    const double kappa = (sigma * sigma + 1) * (sigma * sigma + 1) * (1 + std::abs(e)) / lambda;
    const double rounding = 32 * eps * (1 + std::abs(sigma)) / tau;
    INFO("Q = " << modes.text(r, "q") << ", mode " << modes.text(r, "mode") << ", step " << modes.text(r, "step"));
    CHECK(std::abs(measured - predicted) <= tau * kappa * std::abs(predicted) + rounding);
    const double first_order = predicted * (1 + tau * e * sigma * (sigma * sigma + 1) / lambda);
    CHECK(std::abs(measured - first_order) <= tau * kappa * tau * kappa * std::abs(predicted) + rounding);
    if (rounding <= 1e-6 * std::abs(predicted)) {
      ++resolved;
      // The stated tolerance: where the step is small against the mode's time scale, 1e-3 relative.
      if (tau * kappa <= 1e-3) {
        CHECK(std::abs(measured / predicted - 1) <= 1e-3);
        ++small_step;
      }
    }
  }
  CHECK(resolved > 200);
  CHECK(small_step > 100);
}

TEST_CASE("figure 7: each mode stays within the bound of Prop. 16, and smaller Q converges faster",
          "[figures][fig7]") {
  // Eq. (69): |σ_i^X(t) − σ_i^Y| ≤ |σ_i^X(0) − σ_i^Y| e^{−t/λ_i}, since (σ² + 1)² ≥ 1; a gradient-descent
  // step with τ(σ² + 1)²/λ < 1 contracts the gap by 1 − τ(σ² + 1)²/λ + O(τ²) ≤ e^{−τ/λ}, so the bound
  // holds along the run too. Every run starts from the same σ^X(0) with λ_i = Q/5, so the flows are one
  // flow run at speeds 5/Q: at every time the loss is lower for smaller Q.
  const Table modes(quick("fig7_radial_convergence", "fig7_modes.csv"));
  for (std::size_t r = 0; r < modes.size(); ++r) {
    INFO("Q = " << modes.text(r, "q") << ", mode " << modes.text(r, "mode") << ", step " << modes.text(r, "step"));
    CHECK(modes.number(r, "gap") <= modes.number(r, "bound_eq69") * (1 + 1e-12) + 1e-14);
  }
  const Table loss(quick("fig7_radial_convergence", "fig7_loss.csv"));
  std::map<long, std::vector<std::pair<double, double>>> by_step;  // step -> (Q, loss)
  for (std::size_t r = 0; r < loss.size(); ++r) {
    CHECK(loss.number(r, "loss") <= loss.number(r, "bound_eq69") * (1 + 1e-12));
    by_step[loss.integer(r, "step")].push_back({loss.number(r, "q"), loss.number(r, "loss")});
  }
  int compared = 0;
  for (auto& [step, runs] : by_step) {
    if (step == 0) continue;
    std::sort(runs.begin(), runs.end());
    for (std::size_t j = 1; j < runs.size(); ++j) {
      INFO("step " << step << ": Q = " << runs[j - 1].first << " against Q = " << runs[j].first);
      CHECK(runs[j - 1].second < runs[j].second);
      ++compared;
    }
  }
  CHECK(compared > 100);
}

TEST_CASE("figures 6, 7 and 8: the sweeps write the same bits on one thread as on all", "[figures][threads]") {
  // Every run starts from its own inputs and is stored by index; OMP_NUM_THREADS=1 must not change a bit.
  for (const auto& [example, file] : std::vector<std::pair<std::string, std::string>>{
           {"fig6_convergence", "fig6_convergence.csv"},
           {"fig6_convergence", "fig6_summary.csv"},
           {"fig7_radial_convergence", "fig7_modes.csv"},
           {"fig7_radial_convergence", "fig7_loss.csv"},
           {"fig8_hessian_spectrum", "fig8_eigenvalues.csv"},
           {"fig8_hessian_spectrum", "fig8_summary.csv"},
           {"fig8_hessian_spectrum", "fig8_scalar.csv"}}) {
    INFO(example << "/" << file);
    const std::string all = contents(quick(example, file));
    REQUIRE(all.size() > 100);
    CHECK(all == contents(quick(example + "_one_thread", file)));
  }
}

TEST_CASE("figure 8: one eigenvalue per parameter, from a symmetric Hessian", "[figures][fig8]") {
  const Table summary(quick("fig8_hessian_spectrum", "fig8_summary.csv"));
  const Table eigen(quick("fig8_hessian_spectrum", "fig8_eigenvalues.csv"));
  REQUIRE(summary.size() == 16);  // 4 activations × 4 scales
  for (std::size_t i = 0; i < summary.size(); ++i) {
    const long d = summary.integer(i, "parameters");
    INFO(summary.text(i, "activation") << " s = " << summary.text(i, "scale"));
    // d = h (n + m): V ∈ R^{h×n}, U ∈ R^{m×h}.
    CHECK(d == summary.integer(i, "hidden") * (summary.integer(i, "input") + summary.integer(i, "output")));
    const auto rows = rows_of(eigen, summary.text(i, "activation"), summary.text(i, "scale"));
    REQUIRE(static_cast<long>(rows.size()) == d);
    for (std::size_t j = 0; j < rows.size(); ++j) CHECK(eigen.integer(rows[j], "index") == static_cast<long>(j));
    CHECK(summary.integer(i, "zero_count") + summary.integer(i, "nonzero_count") == d);
    // uᵀ(Hv) = vᵀ(Hu) for the raw Hessian-vector products (Schwarz), to rounding.
    CHECK(summary.number(i, "symmetry_error") <= 1e-12);
  }
}

TEST_CASE("figure 8: at a minimum with Y = F at most m·k Hessian eigenvalues are nonzero, none negative",
          "[figures][fig8]") {
  // With zero residual the Hessian of ½‖Y − F‖² is JᵀJ, J = ∂vec F/∂θ ∈ R^{mk×d}: positive semidefinite
  // of rank ≤ mk. The residual left by training (loss ≤ 1e-9) perturbs eigenvalues by far less than
  // the zero tolerance.
  const Table summary(quick("fig8_hessian_spectrum", "fig8_summary.csv"));
  for (std::size_t i = 0; i < summary.size(); ++i) {
    INFO(summary.text(i, "activation") << " s = " << summary.text(i, "scale") << ", loss " << summary.text(i, "loss_final"));
    REQUIRE(summary.number(i, "loss_final") <= 1e-9);
    const long mk = summary.integer(i, "output") * summary.integer(i, "input");
    CHECK(summary.integer(i, "nonzero_count") <= mk);
    CHECK(summary.number(i, "lambda_min") >= -summary.number(i, "zero_tolerance"));
  }
}

TEST_CASE("figure 8: the zero eigenvalues of the linear network are its GL_h orbit, of dimension h(m + n) − mn",
          "[figures][fig8]") {
  // At a minimum L is constant on the orbit, so every generator ξ = M̄θ has ξᵀHξ = 0 and, H being
  // positive semidefinite there, Hξ = 0. With U of full row rank m and V of full column rank n
  // (h ≥ m, n), the stabiliser {M : UM = 0, MV = 0} has dimension (h − m)(h − n), so the orbit has
  // dimension h² − (h − m)(h − n) = h(m + n) − mn = d − mn: the whole kernel of JᵀJ (rank mn).
  // For ReLU the scaling orbit (dimension h) lies in the kernel but is smaller than it.
  const Table summary(quick("fig8_hessian_spectrum", "fig8_summary.csv"));
  int linear = 0, relu = 0;
  for (std::size_t i = 0; i < summary.size(); ++i) {
    const std::string activation = summary.text(i, "activation");
    const long h = summary.integer(i, "hidden"), m = summary.integer(i, "output"), n = summary.integer(i, "input");
    INFO(activation << " s = " << summary.text(i, "scale"));
    if (activation == "identity") {
      CHECK(summary.integer(i, "orbit_dimension") == h * (m + n) - m * n);
      CHECK(summary.integer(i, "generic_orbit_dimension") == h * (m + n) - m * n);  // h² − (h − m)(h − n)
      CHECK(summary.integer(i, "zero_count") == summary.integer(i, "orbit_dimension"));
      CHECK(summary.number(i, "orbit_in_kernel") <= 1e-6);
      ++linear;
    } else if (activation == "relu") {
      CHECK(summary.integer(i, "orbit_dimension") == h);
      CHECK(summary.integer(i, "generic_orbit_dimension") == h);
      CHECK(summary.integer(i, "zero_count") >= summary.integer(i, "orbit_dimension"));
      CHECK(summary.number(i, "orbit_in_kernel") <= 1e-6);
      ++relu;
    } else {
      CHECK(summary.integer(i, "orbit_dimension") == -1);  // tanh and sigmoid have no linear symmetry
    }
  }
  CHECK(linear == 4);
  CHECK(relu == 4);
}

TEST_CASE("figure 8, G.1: the Hessian of ½(1 − uv)² at the minimum has eigenvalues 0 and √(Q² + 4)",
          "[figures][fig8]") {
  // At u v = 1 the Hessian [[v², 2uv − 1], [2uv − 1, u²]] = [[v², 1], [1, u²]] has determinant
  // u²v² − 1 = 0 and trace u² + v² = √((u² − v²)² + 4u²v²) = √(Q² + 4). The paper's eq. (77) says
  // 2√(Q² + 4): that is the Hessian of (1 − uv)², twice this one.
  const Table scalar(quick("fig8_hessian_spectrum", "fig8_scalar.csv"));
  REQUIRE(scalar.size() >= 5);
  for (std::size_t r = 0; r < scalar.size(); ++r) {
    INFO("Q0 = " << scalar.text(r, "q0"));
    REQUIRE(scalar.number(r, "gradient_norm") <= 1e-12);
    CHECK(scalar.number(r, "u") * scalar.number(r, "v") == Approx(1.0).epsilon(1e-10));
    const double q = scalar.number(r, "q_final");
    CHECK(scalar.number(r, "lambda_large") == Approx(std::sqrt(q * q + 4)).epsilon(1e-10));
    CHECK(std::abs(scalar.number(r, "lambda_small")) <= 1e-10);
    CHECK(scalar.number(r, "lambda_large") == Approx(0.5 * scalar.number(r, "paper_eq77")).epsilon(1e-3));
    // Gradient descent moves Q = u² − v² by exactly η²((∂L/∂u)² − (∂L/∂v)²) per step (eq. 41).
    CHECK(std::abs(q - scalar.number(r, "q0")) <= scalar.number(r, "drift_bound") * (1 + 1e-9) + 1e-14);
  }
}
