// Figures 4 and 5 (Appendix E): the distribution of the conserved quantity at initialisation.
//
// For a two-layer network U σ(V X) with U ∈ R^{m×h}, V ∈ R^{h×n}, draws 1000 initialisations of
// eq. (46) — U_ij ~ N(0, 1/h), V_ij ~ N(0, 1/n), which the paper calls Xavier (it is LeCun's normal
// initialisation; --scheme glorot uses Glorot and Bengio's 2/(fan_in + fan_out)) — and evaluates
//     Q = ½‖U‖²_F − Σ_kj Φ_σ(V_kj),   Φ_σ(v) = ∫_0^v σ/σ′,
// which is eq. (45), ½Tr[UᵀU − VVᵀ], for σ = identity and eq. (48) otherwise.
//   Figure 4: σ = identity, (m, h, n) = (100, 100, 100), (100, 200, 100), (200, 100, 100).
//   Figure 5: σ = identity, ReLU, tanh, sigmoid, m = h = n = 100.
// Over each histogram the closed-form mean and variance (symflow::elementwise_quantity_moments;
// Q is a sum of 10⁴ independent terms, so its law is close to the normal one drawn). For σ =
// identity E[Q] = ½(mh/h − hn/n) = (m − h)/2; the paper's eq. (47) prints m − h.
//
// Each draw has its own generator, sweep_generator(seed, item) for item = histogram·2³² + draw, and
// symflow::sweep returns the results in item order, so the samples do not depend on the number of
// OpenMP threads.
//
// --published draws as the reference code (Q_distribution.py): draw i from torch.manual_seed(i²),
// U = rand(m, h).normal_(0, √(1/h)) then V = rand(n, h).normal_(0, √(1/n)) from the same generator
// (float32, support/torch_draws.hpp), and its Q (utils.compute_Q): ‖U‖² − ‖V‖² (identity),
// ‖U‖² − ‖max(V, 0)‖² (ReLU), ‖U‖² − Σcosh²V (tanh), ½‖U‖² − ΣV − ΣeV (sigmoid), that is
// 2Q, 2Q, 2Q − hn and Q − hn in terms of eq. (48). The closed form drawn is that of a·Q + b.
//
// Writes q_samples.csv, q_summary.csv, q_histogram.csv, q_normal.csv, q_distribution_fig4.png and
// q_distribution_fig5.png.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <symflow/symflow.hpp>

#include "support/plot.hpp"
#include "support/reference_q.hpp"
#include "support/torch_draws.hpp"

namespace sf = symflow;

namespace {

/// One histogram: an activation and the sizes (m, h, n) = (output, hidden, input).
struct Config {
  std::string figure;
  std::string activation;
  sf::Index m, h, n;
  std::string name() const {
    return activation + "_" + std::to_string(m) + "_" + std::to_string(h) + "_" + std::to_string(n);
  }
};

/// Q for `draws` initialisations by `scheme`, and the closed form. Draw i of histogram `index` is
/// sweep item index·2³² + i with its own generator, so it is the same whatever the thread count and
/// whatever --draws is.
template <class Act, class Scheme>
sf::Moments sample(const Config& c, const Scheme& scheme, std::uint64_t seed, std::size_t index, long draws,
                   std::vector<double>& q) {
  using Net = sf::TwoLayer<double, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({c.n, c.h, c.m});
  const auto quantity = sf::summed(sf::ElementwiseQuantity<Net>(net));
  const sf::SweepRange items{static_cast<std::uint64_t>(index) << 32, static_cast<std::uint64_t>(draws)};
  q = sf::sweep(items, [&](std::uint64_t item) {
    auto rng = sf::sweep_generator(seed, item);
    return static_cast<double>(quantity.value(sf::initialize(net, scheme, rng)));
  });
  return sf::elementwise_quantity_moments(net, scheme);
}

/// Q_code = a·Q + b with Q of eq. (48) (lower limit 0): the code's ΣΦ is 2ΣΦ for identity and
/// ReLU, Σcosh²V = hn + 2ΣΦ for tanh (Φ = sinh²/2), ΣV + ΣeV = hn + ΣΦ for sigmoid (Φ = v + eᵛ − 1).
struct Affine {
  double a, b;
};
inline Affine code_q_affine(const std::string& activation, double h, double n) {
  if (activation == "identity" || activation == "relu") return {2, 0};
  if (activation == "tanh") return {2, -h * n};
  return {1, -h * n};
}

/// --published: draw i as Q_distribution.py draws it, after torch.manual_seed(i²).
template <class Act>
sf::Moments sample_published(const Config& c, long draws, std::vector<double>& q) {
  using Net = sf::TwoLayer<double, Act, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({c.n, c.h, c.m});
  q = sf::sweep(static_cast<std::uint64_t>(draws), [&](std::uint64_t i) {
    sf::examples::TorchGenerator generator(i * i);
    const auto u = generator.rand_then_normal(c.m, c.h, 0.0f, static_cast<float>(std::sqrt(1.0 / double(c.h))));
    const auto v = generator.rand_then_normal(c.n, c.h, 0.0f, static_cast<float>(std::sqrt(1.0 / double(c.n))));
    return sf::examples::reference_code_q<Act>(u, v);
  });
  const sf::Moments m = sf::elementwise_quantity_moments(net, sf::XavierNormal{});
  const Affine t = code_q_affine(c.activation, double(c.h), double(c.n));
  sf::Moments out = m;
  out.mean = t.a * m.mean + t.b;
  out.variance = t.a * t.a * m.variance;
  return out;
}

inline sf::Moments sample_published_any(const Config& c, long draws, std::vector<double>& q) {
  if (c.activation == "identity") return sample_published<sf::Identity>(c, draws, q);
  if (c.activation == "relu") return sample_published<sf::ReLU>(c, draws, q);
  if (c.activation == "tanh") return sample_published<sf::Tanh>(c, draws, q);
  return sample_published<sf::Sigmoid>(c, draws, q);
}

template <class Scheme>
sf::Moments sample_any(const Config& c, const Scheme& scheme, std::uint64_t seed, std::size_t index, long draws,
                       std::vector<double>& q) {
  if (c.activation == "identity") return sample<sf::Identity>(c, scheme, seed, index, draws, q);
  if (c.activation == "relu") return sample<sf::ReLU>(c, scheme, seed, index, draws, q);
  if (c.activation == "tanh") return sample<sf::Tanh>(c, scheme, seed, index, draws, q);
  return sample<sf::Sigmoid>(c, scheme, seed, index, draws, q);
}

}  // namespace

static int run_example(int argc, char** argv) {
  CLI::App app{"Figures 4-5 (Appendix E): distribution of the conserved quantity Q over Xavier initialisations"};
  std::string out_dir = "out/fig4_5_q_distribution";
  std::uint64_t seed = 1;
  bool quick = false;
  long draws = 1000;
  int bins = 40;
  std::string scheme_name = "xavier";
  app.add_option("--out", out_dir, "output folder")->capture_default_str();
  sf::examples::add_seed_option(app, seed, "random seed");
  app.add_option("--draws", draws, "initialisations per histogram")->capture_default_str();
  app.add_option("--bins", bins, "histogram bins")->capture_default_str();
  app.add_option("--scheme", scheme_name,
                 "xavier: eq. (46), Var U = 1/h, Var V = 1/n; glorot: Var = 2/(fan_in + fan_out) (PyTorch's xavier_normal_)")
      ->check(CLI::IsMember({"xavier", "glorot"}))
      ->capture_default_str();
  bool published = false;
  app.add_flag("--published", published,
               "the reference code's draws (torch.manual_seed(i^2), float32, eq. 46) and its Q (2Q, 2Q, 2Q - hn, Q - hn)");
  app.add_flag("--quick", quick, "200 draws per histogram (for tests)");
  CLI11_PARSE(app, argc, argv);
  if (published && app.count("--scheme") > 0)
    throw std::invalid_argument("--published draws by eq. (46) as the reference code; --scheme does not apply");
  if (published) scheme_name = "published";
  if (quick) draws = 200;
  if (draws < 4 || bins < 1) {
    std::cerr << "fig4_5_q_distribution: needs --draws >= 4 and --bins >= 1\n";
    return 2;
  }

  const std::vector<Config> configs{{"4 5", "identity", 100, 100, 100}, {"4", "identity", 100, 200, 100},
                                    {"4", "identity", 200, 100, 100},   {"5", "relu", 100, 100, 100},
                                    {"5", "tanh", 100, 100, 100},       {"5", "sigmoid", 100, 100, 100}};
  const auto out = sf::examples::prepare_output(out_dir);
  auto samples_csv = sf::examples::open_csv(out / "q_samples.csv");
  samples_csv << "config,activation,m,h,n,draw,q\n";
  auto summary_csv = sf::examples::open_csv(out / "q_summary.csv");
  summary_csv << "config,figure,activation,m,h,n,scheme,draws,sample_mean,mean_error,closed_mean,paper_eq47_mean,"
                 "z_mean,sample_variance,variance_error,closed_variance,z_variance\n";
  auto histogram_csv = sf::examples::open_csv(out / "q_histogram.csv");
  histogram_csv << "config,bin_left,bin_right,count,density\n";
  auto normal_csv = sf::examples::open_csv(out / "q_normal.csv");
  normal_csv << "config,q,density\n";

  std::cout << "fig4_5_q_distribution: " << draws << " initialisations per histogram, scheme " << scheme_name
            << " ("
            << (published                 ? "the reference code: torch.manual_seed(i^2), eq. 46, its Q"
                : scheme_name == "xavier" ? "eq. 46: Var U = 1/h, Var V = 1/n"
                                          : "Var = 2/(fan_in + fan_out)")
            << "), seed " << (published ? std::string("i^2") : std::to_string(seed)) << "\n";
  std::cout << "  config                 mean (sample +- s.e.)    closed form   eq.47   variance (sample +- s.e.)  closed form\n";
  const auto start = std::chrono::steady_clock::now();
  std::vector<double> q;
  for (std::size_t k = 0; k < configs.size(); ++k) {
    const Config& c = configs[k];
    const sf::Moments closed = published                ? sample_published_any(c, draws, q)
                               : scheme_name == "xavier" ? sample_any(c, sf::XavierNormal{}, seed, k, draws, q)
                                                         : sample_any(c, sf::GlorotNormal{}, seed, k, draws, q);
    // Sample moments with their standard errors. monte_carlo_moments draws through the generator it
    // is given; the draws are already made (in parallel), so its "generator" walks the stored values.
    std::size_t next = 0;
    const sf::SampleMoments s = sf::monte_carlo_moments([&q](std::size_t& i) { return q[i++]; },
                                                        [](double x) { return x; }, static_cast<sf::Index>(q.size()), next);
    const double eq47 = c.activation == "identity" ? static_cast<double>(c.m - c.h) : std::nan("");
    const double z_mean = (s.mean - closed.mean) / s.mean_error;
    const double z_var = (s.variance - closed.variance) / s.variance_error;
    for (std::size_t i = 0; i < q.size(); ++i)
      samples_csv << c.name() << ',' << c.activation << ',' << c.m << ',' << c.h << ',' << c.n << ',' << i << ','
                  << q[i] << '\n';
    summary_csv << c.name() << ',' << c.figure << ',' << c.activation << ',' << c.m << ',' << c.h << ',' << c.n
                << ',' << scheme_name << ',' << s.samples << ',' << s.mean << ',' << s.mean_error << ','
                << closed.mean << ',' << eq47 << ',' << z_mean << ',' << s.variance << ',' << s.variance_error << ','
                << closed.variance << ',' << z_var << '\n';
    // Histogram over the range of the samples, as a density; the closed-form normal density over it.
    const auto [lo_it, hi_it] = std::minmax_element(q.begin(), q.end());
    const double width = (*hi_it - *lo_it) / bins;
    std::vector<long> counts(static_cast<std::size_t>(bins), 0);
    for (double x : q)
      ++counts[static_cast<std::size_t>(std::min<long>(bins - 1, static_cast<long>((x - *lo_it) / width)))];
    for (int b = 0; b < bins; ++b)
      histogram_csv << c.name() << ',' << *lo_it + b * width << ',' << *lo_it + (b + 1) * width << ','
                    << counts[static_cast<std::size_t>(b)] << ','
                    << static_cast<double>(counts[static_cast<std::size_t>(b)]) / (static_cast<double>(q.size()) * width)
                    << '\n';
    const double sd = closed.stddev();
    for (int i = 0; i <= 200; ++i) {
      const double x = closed.mean - 5 * sd + 10 * sd * i / 200;
      const double z = (x - closed.mean) / sd;
      normal_csv << c.name() << ',' << x << ',' << std::exp(-z * z / 2) / (sd * std::sqrt(2 * std::numbers::pi))
                 << '\n';
    }
    std::cout << "  " << std::left << std::setw(22) << c.name() << " " << std::right << std::setw(9)
              << std::setprecision(5) << s.mean << " +- " << std::setw(7) << std::setprecision(2) << s.mean_error
              << "   " << std::setw(9) << std::setprecision(5) << closed.mean << "   " << std::setw(5) << eq47
              << "   " << std::setw(8) << s.variance << " +- " << std::setw(7) << std::setprecision(2)
              << s.variance_error << "     " << std::setprecision(5) << closed.variance << "\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "sampled in " << std::fixed << std::setprecision(1) << seconds << " s\n" << std::defaultfloat;
  sf::examples::close_csv(samples_csv, out / "q_samples.csv");
  sf::examples::close_csv(summary_csv, out / "q_summary.csv");
  sf::examples::close_csv(histogram_csv, out / "q_histogram.csv");
  sf::examples::close_csv(normal_csv, out / "q_normal.csv");
  std::cout << "wrote " << out.string() << "/q_{samples,summary,histogram,normal}.csv\n";
  if (sf::examples::render("fig4_5_q_distribution.gp", out))
    std::cout << "wrote " << out.string() << "/q_distribution_fig4.png and q_distribution_fig5.png\n";
  return 0;
}

int main(int argc, char** argv) {
  return symflow::examples::guarded_main("fig4_5_q_distribution", [&] { return run_example(argc, argv); });
}
