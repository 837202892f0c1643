// Specification of sweeps: every item runs once, results come back in item order, and they do not
// depend on the number of threads or on how the range is split into shards. The large sums of
// squares that run on OpenMP threads (symflow/core/reduction.hpp), and the potentials of eq. (48)
// for tanh and sigmoid, do not depend on it either.
#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <symflow/analysis/sweep.hpp>
#include <symflow/conserved.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace sf = symflow;

namespace {

using Net = sf::TwoLayer<double, sf::Identity, 30, 40, 20>;

/// One Monte Carlo item of appendix E: Tr Q of a Xavier-initialised two-layer linear network,
/// drawn from the item's own generator.
double imbalance_of_draw(std::uint64_t seed, std::uint64_t item) {
  const Net net;
  auto rng = sf::sweep_generator(seed, item);
  Net::Params theta;
  net.weight<1>(theta) = sf::random_normal<Net::Weight<1>>(40, 30, rng, 1.0 / std::sqrt(30.0));
  net.weight<2>(theta) = sf::random_normal<Net::Weight<2>>(20, 40, rng, 1.0 / std::sqrt(40.0));
  return sf::LayerImbalanceTrace<Net>(net).value(theta);
}

}  // namespace

TEST_CASE("shards are contiguous, differ in size by at most one and cover the range in order", "[sweep][shard]") {
  for (std::uint64_t count : {0u, 1u, 7u, 1000u, 1001u}) {
    for (std::uint64_t shards : {1u, 2u, 3u, 8u, 13u}) {
      const sf::SweepRange all{5, count};
      std::uint64_t next = all.first, smallest = count, largest = 0;
      for (std::uint64_t k = 0; k < shards; ++k) {
        const sf::SweepRange piece = sf::shard(all, k, shards);
        CHECK(piece.first == next);
        next = piece.end();
        smallest = std::min(smallest, piece.count);
        largest = std::max(largest, piece.count);
      }
      INFO("count " << count << ", shards " << shards);
      CHECK(next == all.end());
      CHECK(largest - smallest <= 1);
    }
  }
  CHECK_THROWS_AS(sf::shard({0, 10}, 3, 3), std::invalid_argument);
  CHECK_THROWS_AS(sf::shard({0, 10}, 0, 0), std::invalid_argument);
}

TEST_CASE("item generators depend on the seed and the item only", "[sweep][generator]") {
  auto a = sf::sweep_generator(42, 7);
  auto b = sf::sweep_generator(42, 7);
  auto c = sf::sweep_generator(42, 8);
  auto d = sf::sweep_generator(43, 7);
  const auto first = a();
  CHECK(first == b());
  CHECK(first != c());
  CHECK(first != d());
  // High halves of 64-bit seeds and items matter too.
  CHECK(sf::sweep_generator(1, 0)() != sf::sweep_generator(1 + (std::uint64_t{1} << 32), 0)());
  CHECK(sf::sweep_generator(1, 0)() != sf::sweep_generator(1, std::uint64_t{1} << 32)());
}

TEST_CASE("a sweep runs every item once and returns results in item order", "[sweep]") {
  std::vector<std::atomic<int>> calls(300);
  const auto results = sf::sweep(sf::SweepRange{100, 300}, [&](std::uint64_t i) {
    calls[i - 100].fetch_add(1);
    return 3 * i + 1;
  });
  REQUIRE(results.size() == 300);
  for (std::uint64_t j = 0; j < 300; ++j) {
    CHECK(results[j] == 3 * (100 + j) + 1);
    CHECK(calls[j].load() == 1);
  }
  // bool results live in their own slots (no std::vector<bool> bit sharing inside the sweep).
  const auto even = sf::sweep(64, [](std::uint64_t i) { return i % 2 == 0; });
  for (std::uint64_t i = 0; i < 64; ++i) CHECK(even[i] == (i % 2 == 0));
  CHECK(sf::sweep(0, [](std::uint64_t i) { return i; }).empty());
}

TEST_CASE("Monte Carlo results are bit for bit the same for every thread count and every sharding",
          "[sweep][threads]") {
  const std::uint64_t seed = Catch::rngSeed();
  const sf::SweepRange all{0, 200};
  const auto f = [seed](std::uint64_t i) { return imbalance_of_draw(seed, i); };
  const std::vector<double> one = sf::sweep(all, f, 1);
  for (int threads : {2, 3, 4}) {
    INFO(threads << " threads");
    CHECK(sf::sweep(all, f, threads) == one);
  }
  std::vector<double> concatenated;
  for (std::uint64_t k = 0; k < 7; ++k) {
    const auto part = sf::sweep(sf::shard(all, k, 7), f, 2);
    concatenated.insert(concatenated.end(), part.begin(), part.end());
  }
  CHECK(concatenated == one);
  // The sample mean is E[Tr Q] = hn/n − mh/h = h − m = 20 (Xavier, ‖V‖² − ‖U‖²) within 5 standard
  // errors: Var Tr Q = 2hn/n² + 2mh/h² = 2h/n + 2m/h = 3.67 per draw.
  double mean = 0;
  for (double q : one) mean += q / static_cast<double>(one.size());
  CHECK(std::abs(mean - 20.0) <= 5 * std::sqrt((2.0 * 40 / 30 + 2.0 * 20 / 40) / 200));
}

#if defined(_OPENMP)
TEST_CASE("the requested number of threads runs the sweep", "[sweep][threads]") {
  for (int threads : {1, 2, 3}) {
    const auto team = sf::sweep(16, [](std::uint64_t) { return omp_get_num_threads(); }, threads);
    for (int t : team) CHECK(t == threads);
  }
}
#endif

#if defined(_OPENMP)
TEST_CASE("a sum of squares over millions of entries has the same bits on 1, 2 and 3 threads, and inside a sweep",
          "[sweep][threads][reduction]") {
  std::mt19937_64 rng(Catch::rngSeed());
  // One parallel pass of exactly the threshold, and several passes ending in a partial block.
  for (const sf::Index n : {sf::detail::parallel_sum_from, sf::Index{3 * 2048 * 1024 + 517}}) {
    INFO(n << " entries");
    const Eigen::VectorXd x = sf::random_normal<Eigen::VectorXd>(n, 1, rng);
    const Eigen::VectorXf xf = x.cast<float>();
    Eigen::setNbThreads(1);
    const double serial = sf::sum_of_squares(x), serial_float = sf::sum_of_squares(xf);
    for (int threads : {2, 3}) {
      INFO(threads << " threads");
      Eigen::setNbThreads(threads);
      CHECK(sf::sum_of_squares(x) == serial);
      CHECK(sf::sum_of_squares(xf) == serial_float);
    }
    // Within a sweep's threads the sum runs serially, with the same bits.
    Eigen::setNbThreads(2);
    for (double inner : sf::sweep(4, [&](std::uint64_t) { return sf::sum_of_squares(x); }, 2)) CHECK(inner == serial);
    // The blocked, compensated sum against long double: the error of a 32-term block.
    long double exact = 0;
    for (sf::Index i = 0; i < n; ++i) exact += static_cast<long double>(x[i]) * x[i];
    CHECK(std::abs(serial - static_cast<double>(exact)) <= 1e-15 * serial);
  }
  Eigen::setNbThreads(0);  // back to OpenMP's default
}

TEST_CASE("row and column sums of squares of a large matrix have the same bits on 1, 2 and 3 threads",
          "[sweep][threads][reduction]") {
  std::mt19937_64 rng(Catch::rngSeed());
  // Rows not a multiple of a band (of 8), columns not a multiple of a group (8 or 16).
  const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(613, 453, rng);
  const Eigen::MatrixXf xf = x.cast<float>();
  REQUIRE(x.size() >= sf::detail::parallel_sum_from);
  Eigen::setNbThreads(1);
  const Eigen::VectorXd rows = sf::row_sums_of_squares(x), positive = sf::row_sums_of_squares<true>(x),
                        rows_float = sf::row_sums_of_squares(xf), columns = sf::column_sums_of_squares(x),
                        columns_float = sf::column_sums_of_squares(xf);
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    Eigen::setNbThreads(threads);
    CHECK(sf::row_sums_of_squares(x) == rows);
    CHECK(sf::row_sums_of_squares<true>(x) == positive);
    CHECK(sf::row_sums_of_squares(xf) == rows_float);
    CHECK(sf::column_sums_of_squares(x) == columns);
    CHECK(sf::column_sums_of_squares(xf) == columns_float);
  }
  // And they are the sums: against long double, row by row and column by column.
  double worst = 0;
  for (sf::Index k = 0; k < x.rows(); ++k) {
    long double exact = 0;
    for (sf::Index j = 0; j < x.cols(); ++j) exact += static_cast<long double>(x(k, j)) * x(k, j);
    worst = std::max(worst, std::abs(rows[k] - static_cast<double>(exact)) / rows[k]);
  }
  for (sf::Index j = 0; j < x.cols(); ++j) {
    long double exact = 0;
    for (sf::Index k = 0; k < x.rows(); ++k) exact += static_cast<long double>(x(k, j)) * x(k, j);
    worst = std::max(worst, std::abs(columns[j] - static_cast<double>(exact)) / columns[j]);
  }
  CHECK(worst <= 1e-13);
  Eigen::setNbThreads(0);
}

namespace {

/// Eq. (48) of a two-layer network with hidden activation A on random weights of shape h × n
/// (W_1) and 3 × h (W_2): value(), incoming() and the per-unit potentials have the same bits on 1,
/// 2 and 3 threads and inside a sweep, and are the long-double sums.
template <class S, class A>
void check_eq48_on_threads(sf::Index h, sf::Index n, std::mt19937_64& rng) {
  INFO(A::name() << (std::is_same_v<S, float> ? " float " : " double ") << h << " x " << n);
  using Wide = sf::Mlp<S, A, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Wide net({n, h, 3});
  const sf::ElementwiseQuantity<Wide> q(net);
  using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  const Vector theta = sf::random_normal<Vector>(net.size(), 1, rng) * S(0.7);
  const auto v = net.template weight<1>(theta);
  const auto u = net.template weight<2>(theta);
  REQUIRE(v.size() >= sf::detail::parallel_sum_from);
  Eigen::setNbThreads(1);
  const Vector value = q.value(theta), potentials = q.potentials(theta);
  const auto incoming = q.incoming(theta);
  for (int threads : {2, 3}) {
    INFO(threads << " threads");
    Eigen::setNbThreads(threads);
    CHECK(q.value(theta) == value);
    CHECK(q.potentials(theta) == potentials);
    CHECK(q.incoming(theta) == incoming);
  }
  // Within a sweep's threads the sums run serially, with the same bits.
  Eigen::setNbThreads(2);
  const auto same = [&](std::uint64_t) { return static_cast<int>(q.value(theta) == value); };
  for (int inner : sf::sweep(2, same, 2)) CHECK(inner == 1);
  Eigen::setNbThreads(0);
  // Against long double: every Φ ≥ 0, so each sum's relative error is at most an evaluation's few
  // units in the last place plus one per addition: at most n/48 + 48 additions per unit (48 bands),
  // about 900 here, ≤ 1e-13 in double; float potentials() sums in float, ≤ 900 · 2⁻²⁴ < 1e-4.
  const A act{};
  const double tolerance = std::is_same_v<S, float> ? 1e-4 : 1e-13;
  long double all = 0;
  double worst_potential = 0, worst_value = 0;
  for (sf::Index k = 0; k < h; ++k) {
    long double phi = 0, outgoing = 0;
    for (sf::Index j = 0; j < n; ++j) phi += act.potential(static_cast<long double>(v(k, j)));
    for (sf::Index i = 0; i < u.rows(); ++i) outgoing += static_cast<long double>(u(i, k)) * u(i, k);
    all += phi;
    worst_potential = std::max(worst_potential, static_cast<double>(std::abs(potentials[k] - phi) / phi));
    // Q_k = ½‖u_k‖² − Σ_j Φ: its error against the larger of the two terms (float: in double, then rounded).
    const long double exact = outgoing / 2 - phi, scale = std::max(outgoing / 2, phi);
    const long double rounding = std::is_same_v<S, float> ? std::abs(exact) * 0x1p-24L : 0.0L;
    worst_value = std::max(worst_value, static_cast<double>((std::abs(value[k] - exact) - rounding) / scale));
  }
  CHECK(worst_potential <= tolerance);
  CHECK(worst_value <= 1e-13);
  CHECK(static_cast<double>(std::abs(incoming - all) / all) <= 1e-13);
}

}  // namespace

TEST_CASE("eq. (48) for tanh and sigmoid over a large first layer has the same bits on 1, 2 and 3 threads, and inside a sweep",
          "[sweep][threads][reduction][eq48]") {
  std::mt19937_64 rng(Catch::rngSeed());
  // Just over the threshold with neither side a multiple of a chunk (64) or of the 48 bands, and a
  // narrow layer whose bands cut through its units many times.
  for (const auto& [h, n] : {std::pair<sf::Index, sf::Index>{517, 509}, {7, 40000}}) {
    check_eq48_on_threads<double, sf::Tanh>(h, n, rng);
    check_eq48_on_threads<float, sf::Tanh>(h, n, rng);
    check_eq48_on_threads<double, sf::Sigmoid>(h, n, rng);
    check_eq48_on_threads<float, sf::Sigmoid>(h, n, rng);
  }
}
#endif

TEST_CASE("an exception from an item is rethrown after the sweep, the one of the smallest item first", "[sweep][errors]") {
  const auto f = [](std::uint64_t i) -> double {
    if (i == 17 || i == 40) throw std::runtime_error("item " + std::to_string(i));
    return static_cast<double>(i);
  };
  CHECK_THROWS_WITH(sf::sweep(64, f, 2), "item 17");
}
