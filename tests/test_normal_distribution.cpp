// Specification of symflow::NormalDistribution, the ziggurat sampler behind symflow::initialize:
// its 128 layers have equal areas and close at the top of the density, its draws are N(0, 1) in
// distribution (Kolmogorov–Smirnov, moments, the tail beyond R by itself), and they are
// reproducible from the seed with generators of 32 or 64 bits per call.
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <symflow/core/normal_distribution.hpp>

namespace sf = symflow;
using sf::test::rng_for;

namespace {

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double normal_upper_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

/// √n · sup |F_n − F| of the sample against the continuous distribution function F.
template <class Cdf>
double kolmogorov_smirnov(std::vector<double> sample, const Cdf& cdf) {
  std::sort(sample.begin(), sample.end());
  const double n = static_cast<double>(sample.size());
  double d = 0;
  for (std::size_t i = 0; i < sample.size(); ++i) {
    const double f = cdf(sample[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d * std::sqrt(n);
}

// √n D exceeds 1.95 with probability 0.001 under the null hypothesis.
constexpr double ks_critical = 1.95;

}  // namespace

TEST_CASE("the ziggurat's 128 layers have equal areas and close at the top of the density", "[normal]") {
  const auto& t = sf::detail::ziggurat_table();
  const double v = t.layer_area;
  const auto f = [](double x) { return std::exp(-0.5 * x * x); };
  // The base layer: the rectangle [0, R] × [0, f(R)] and the tail beyond R; its width x_0 = V/f(R).
  const double r = t.tail_start;
  CHECK(std::abs(r * f(r) + std::sqrt(std::acos(-1.0) / 2) * std::erfc(r / std::sqrt(2.0)) - v) <= 1e-15 * v);
  CHECK(std::abs(t.x[0] * t.f[1] - v) <= 1e-15 * v);
  // Layer i: [0, x_i] × [f(x_i), f(x_{i+1})], the last one reaching f(x_128) = f(0) = 1.
  for (int i = 1; i < 128; ++i) {
    INFO("layer " << i);
    CHECK(t.x[i] > t.x[i + 1]);
    CHECK(std::abs(t.x[i] * (t.f[i + 1] - t.f[i]) - v) <= 1e-12 * v);
  }
  CHECK(t.f[128] == 1.0);
  // R as Marsaglia and Tsang (2000) tabulate it.
  CHECK(std::abs(r - 3.442619855899) <= 1e-11);
}

TEST_CASE("ziggurat draws are standard normal", "[normal]") {
  constexpr int n = 200000;
  for (int seed = 0; seed < 5; ++seed) {
    auto rng = rng_for(seed);
    std::vector<double> z(n);
    for (auto& v : z) v = sf::NormalDistribution::standard(rng);
    INFO("seed " << seed);
    CHECK(kolmogorov_smirnov(z, normal_cdf) < ks_critical);
    // Moments within 5 standard errors: E z = 0 (SE 1/√n), E z² = 1 (√(2/n)), E z⁴ = 3 (√(96/n)).
    double m1 = 0, m2 = 0, m4 = 0;
    for (double v : z) {
      m1 += v;
      m2 += v * v;
      m4 += v * v * v * v;
    }
    m1 /= n, m2 /= n, m4 /= n;
    CHECK(std::abs(m1) <= 5 / std::sqrt(double(n)));
    CHECK(std::abs(m2 - 1) <= 5 * std::sqrt(2.0 / n));
    CHECK(std::abs(m4 - 3) <= 5 * std::sqrt(96.0 / n));
    // Both signs equally often.
    const auto positive = std::count_if(z.begin(), z.end(), [](double v) { return v > 0; });
    CHECK(std::abs(static_cast<double>(positive) - n / 2.0) <= 5 * std::sqrt(n / 4.0));
  }
}

TEST_CASE("the tail beyond R is drawn as often as the density says, and with its shape", "[normal]") {
  const double r = sf::detail::ziggurat_table().tail_start;
  // P(|Z| ≤ z | |Z| > r) = 1 − Q(z)/Q(r), Q the upper tail.
  const auto conditional_cdf = [](double r0) {
    return [r0](double z) { return 1 - normal_upper_tail(z) / normal_upper_tail(r0); };
  };
  // The tail sampler by itself, at R and further out.
  for (const double start : {r, 1.0, 6.0}) {
    auto rng = rng_for(20);
    std::vector<double> z(100000);
    for (auto& v : z) v = sf::detail::normal_beyond(rng, start);
    INFO("beyond " << start);
    CHECK(*std::min_element(z.begin(), z.end()) > start);
    CHECK(kolmogorov_smirnov(z, conditional_cdf(start)) < ks_critical);
  }
  // Within the ziggurat: 4 million draws, about 2300 of them beyond R = 3.44.
  auto rng = rng_for(11);
  constexpr int n = 4000000;
  std::vector<double> beyond;
  for (int i = 0; i < n; ++i) {
    const double z = std::abs(sf::NormalDistribution::standard(rng));
    if (z > r) beyond.push_back(z);
  }
  const double p = 2 * normal_upper_tail(r);
  CHECK(std::abs(static_cast<double>(beyond.size()) - n * p) <= 5 * std::sqrt(n * p));
  CHECK(kolmogorov_smirnov(beyond, conditional_cdf(r)) < ks_critical);
}

TEST_CASE("mean and standard deviation scale the standard draws, streams are reproducible, bad parameters are refused",
          "[normal]") {
  std::mt19937_64 a(42), b(42);
  const sf::NormalDistribution normal(2.0, 3.0);
  CHECK(normal.mean() == 2.0);
  CHECK(normal.stddev() == 3.0);
  for (int i = 0; i < 1000; ++i) CHECK(normal(a) == 2.0 + 3.0 * sf::NormalDistribution::standard(b));
  // A 32-bit generator (two words per draw) gives standard normal draws as well.
  std::mt19937 narrow(7);
  std::vector<double> z(100000);
  for (auto& v : z) v = sf::NormalDistribution::standard(narrow);
  CHECK(kolmogorov_smirnov(z, normal_cdf) < ks_critical);
  // Zero spread gives the mean; a negative or non-finite one is refused with the values named.
  CHECK(sf::NormalDistribution(1.5, 0.0)(a) == 1.5);
  CHECK_THROWS_WITH(sf::NormalDistribution(0.0, -1.0), Catch::Contains("standard deviation -1.000000"));
  CHECK_THROWS_AS(sf::NormalDistribution(std::nan(""), 1.0), std::invalid_argument);
  CHECK_THROWS_AS(sf::NormalDistribution(0.0, INFINITY), std::invalid_argument);
}
