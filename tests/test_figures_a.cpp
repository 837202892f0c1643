// requires: fig3_q_drift
// What the CSVs of the figure programs must satisfy by mathematics. Each check reads what
// `<program> --quick --out <build>/examples/quick/<program>` wrote (ctest runs those first, as fixtures).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// A CSV file with a header line, read as text; blank lines (block separators for gnuplot) are skipped.
class Csv {
 public:
  explicit Csv(const std::filesystem::path& path) : path_(path) {
    std::ifstream in(path);
    if (!in) FAIL("cannot read " << path << ": run the example's --quick mode first (ctest does)");
    std::string line;
    std::getline(in, line);
    header_ = split(line);
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      rows_.push_back(split(line));
      if (rows_.back().size() != header_.size())
        FAIL(path << ": a row has " << rows_.back().size() << " fields, the header " << header_.size());
    }
  }

  std::size_t rows() const { return rows_.size(); }
  /// Field `name` of row r as text.
  const std::string& text(std::size_t r, const std::string& name) const { return rows_.at(r).at(index(name)); }
  /// Field `name` of row r as a number.
  double number(std::size_t r, const std::string& name) const { return std::stod(text(r, name)); }

 private:
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream s(line);
    std::string field;
    while (std::getline(s, field, ',')) out.push_back(field);
    return out;
  }
  std::size_t index(const std::string& name) const {
    const auto it = std::find(header_.begin(), header_.end(), name);
    if (it == header_.end()) FAIL(path_ << " has no column '" << name << "'");
    return static_cast<std::size_t>(it - header_.begin());
  }

  std::filesystem::path path_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::filesystem::path quick(const std::string& program, const std::string& file) {
  return std::filesystem::path(SYMFLOW_QUICK_DIR) / program / file;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Figure 3: gradient descent θ ← θ − η∇L on U σ(V) (X = I) and Q of eq. (48). With ⟨∇Q, ∇L⟩ = 0,
// one step changes Q by ½η² ∇Lᵀ∇²Q∇L + O(η³). The quick run uses the paper's learning rates
// 0.1, 0.01, 0.001 from one θ₀, for 2000 steps (4000 for sigmoid).

namespace {

/// Q_t − Q_0 by (activation, learning rate, step).
struct Drift {
  std::map<std::pair<std::string, double>, std::map<long, double>> change;
  double at(const std::string& act, double lr, long step) const {
    const auto run = change.find({act, lr});
    if (run == change.end()) FAIL("no run for " << act << " at lr " << lr);
    const auto row = run->second.find(step);
    if (row == run->second.end()) FAIL("step " << step << " of " << act << " at lr " << lr << " not recorded");
    return row->second;
  }
};

Drift read_drift(const Csv& csv) {
  Drift d;
  for (std::size_t r = 0; r < csv.rows(); ++r)
    d.change[{csv.text(r, "activation"), csv.number(r, "lr")}][std::lround(csv.number(r, "step"))] =
        csv.number(r, "q_change");
  return d;
}

}  // namespace

TEST_CASE("figure 3: the columns are Q of eq. (48) and the normalisation of Appendix D", "[figures][fig3]") {
  const Csv csv(quick("fig3_q_drift", "drift.csv"));
  REQUIRE(csv.rows() > 1000);
  std::map<std::pair<std::string, double>, std::size_t> first;
  for (std::size_t r = 0; r < csv.rows(); ++r) {
    const auto key = std::make_pair(csv.text(r, "activation"), csv.number(r, "lr"));
    if (!first.count(key)) first[key] = r;
    const std::size_t r0 = first[key];
    const double f1 = csv.number(r, "f1"), f2 = csv.number(r, "f2"), q = csv.number(r, "q");
    const double scale = csv.number(r0, "f1") + std::abs(csv.number(r0, "f2"));
    INFO(key.first << ", lr " << key.second << ", step " << csv.text(r, "step"));
    CHECK(q == f1 - f2);
    CHECK(csv.number(r, "q_change") == q - csv.number(r0, "q"));
    CHECK(std::abs(csv.number(r, "q_tilde") - std::abs(q) / scale) <= 1e-15 * std::abs(q) / scale);
    CHECK(std::abs(csv.number(r, "time") - key.second * csv.number(r, "step")) <= 1e-12 * csv.number(r, "time"));
  }
  CHECK(first.size() == 12);
}

TEST_CASE("figure 3: for identity and ReLU, |Q_t − Q_0| ≤ ½η² Σ_{s<t} ‖∇L(θ_s)‖² (Prop. 13)", "[figures][fig3]") {
  // Identity: Q(θ − η g) − Q(θ) = −η(⟨U, g_U⟩ − ⟨V, g_V⟩) + ½η²(‖g_U‖² − ‖g_V‖²) and the first
  // term vanishes (⟨U, G Vᵀ⟩ = ⟨V, UᵀG⟩). ReLU with X = I: the same, except that an entry of V that
  // crosses 0 adds ½(v − ηg)² ∈ (0, ½η²g²), so the change stays in [−½η²‖g_V‖², ½η²‖g_U‖²].
  const Csv csv(quick("fig3_q_drift", "drift.csv"));
  int checked = 0;
  for (std::size_t r = 0; r < csv.rows(); ++r) {
    const std::string act = csv.text(r, "activation");
    if (act != "identity" && act != "relu") continue;
    const double rounding = 1e-14 * (std::abs(csv.number(r, "f1")) + std::abs(csv.number(r, "f2")));
    INFO(act << ", lr " << csv.text(r, "lr") << ", step " << csv.text(r, "step"));
    CHECK(std::abs(csv.number(r, "q_change")) <= csv.number(r, "prop13_bound") + rounding);
    ++checked;
  }
  CHECK(checked > 500);
}

TEST_CASE("figure 3: the drift is second order in the learning rate: the first step at η/10 moves Q 100× less",
          "[figures][fig3]") {
  // Same θ₀, so the first step changes Q by ½η² g₀ᵀ∇²Q(θ₀)g₀ + O(η³): the ratio of the first-step
  // changes at η and η/10 is 100(1 + O(η)). For identity Q is quadratic and the ratio is exactly
  // 100 (rounding of Q ≈ 2 against a change ≈ 6e-9 leaves ~1e-7). For tanh and sigmoid at
  // η = 0.01 the O(η) term is checked below 1%. (ReLU is left out: an entry crossing 0 in the
  // first step adds a term that is not a smooth function of η.)
  const Drift d = read_drift(Csv(quick("fig3_q_drift", "drift.csv")));
  CHECK(d.at("identity", 0.1, 1) / d.at("identity", 0.01, 1) == Approx(100).epsilon(1e-5));
  CHECK(d.at("identity", 0.01, 1) / d.at("identity", 0.001, 1) == Approx(100).epsilon(1e-5));
  for (const std::string act : {"tanh", "sigmoid"}) {
    INFO(act);
    CHECK(d.at(act, 0.01, 1) / d.at(act, 0.001, 1) == Approx(100).epsilon(0.01));
  }
}

TEST_CASE("figure 3: at equal flow time t = ηk the drift is first order: η/10 gives 10× less", "[figures][fig3]") {
  // k = t/η steps of O(η²) each: Q(t) − Q(0) = η ∫₀ᵗ ½ gᵀ∇²Q g ds + O(η²) along the gradient-flow
  // path, so at t = 2 (steps 200 and 2000) the runs at η = 0.01 and 0.001 differ by 10(1 + O(η));
  // checked within 5%, for every activation (ReLU's crossings add O(η²) in total).
  const Drift d = read_drift(Csv(quick("fig3_q_drift", "drift.csv")));
  for (const std::string act : {"identity", "relu", "tanh", "sigmoid"}) {
    INFO(act);
    CHECK(d.at(act, 0.01, 200) / d.at(act, 0.001, 2000) == Approx(10).epsilon(0.05));
  }
}
