// Specification of the fast paths of the model layer: the SIMD activation kernels compute tanh and
// the logistic function to a few ulps (full relative precision for small arguments), and the
// shortcuts taken for whitened input X = I and for small products change no derivative.
#include "support.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <symflow/conserved.hpp>
#include <symflow/core/reduction.hpp>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

/// Largest error of `values` over `z`, in units of ε/2 relative to the long-double reference,
/// counting only references above the smallest normal number.
template <class S, class Kernel, class Reference>
double max_ulps(const Eigen::Array<S, Eigen::Dynamic, 1>& z, const Kernel& kernel, const Reference& reference) {
  const Eigen::Array<S, Eigen::Dynamic, 1> got = kernel.values(z);
  double worst = 0;
  for (sf::Index i = 0; i < z.size(); ++i) {
    const long double ref = reference(static_cast<long double>(z[i]));
    if (std::abs(ref) < std::numeric_limits<S>::min()) continue;
    const double err = static_cast<double>(std::abs((static_cast<long double>(got[i]) - ref) / ref));
    worst = std::max(worst, err / (0.5 * static_cast<double>(std::numeric_limits<S>::epsilon())));
  }
  return worst;
}

/// Arguments from 1e-6 to 50 in magnitude, both signs, log-uniform, plus the branch point 0.625.
template <class S>
Eigen::Array<S, Eigen::Dynamic, 1> arguments(std::mt19937_64& rng, sf::Index count) {
  std::uniform_real_distribution<double> exponent(-6.0, std::log10(50.0));
  std::bernoulli_distribution negative(0.5);
  Eigen::Array<S, Eigen::Dynamic, 1> z(count + 4);
  for (sf::Index i = 0; i < count; ++i) {
    const double magnitude = std::pow(10.0, exponent(rng));
    z[i] = static_cast<S>(negative(rng) ? -magnitude : magnitude);
  }
  z.tail(4) << S(0.625), -S(0.625), std::nextafter(S(0.625), S(1)), -std::nextafter(S(0.625), S(1));
  return z;
}

const auto tanh_reference = [](long double x) { return std::tanh(x); };
const auto logistic_reference = [](long double x) { return 1.0L / (1.0L + std::exp(-x)); };

}  // namespace

TEMPLATE_TEST_CASE("the SIMD tanh and logistic kernels are accurate to a few ulps", "[kernels][activation]", float,
                   double) {
  auto rng = rng_for(0);
  // 4099 entries: full SIMD packets and a scalar remainder, which use the same formulas.
  const auto z = arguments<TestType>(rng, 4095);
  CHECK(max_ulps(z, sf::Tanh{}, tanh_reference) <= 3.0);
  CHECK(max_ulps(z, sf::Sigmoid{}, logistic_reference) <= 4.0);
}

TEMPLATE_TEST_CASE("the SIMD kernels keep relative precision for tiny arguments and saturate for huge ones",
                   "[kernels][activation]", float, double) {
  using S = TestType;
  using Array = Eigen::Array<S, 16, 1>;  // one AVX-512 float packet, two double packets
  Array z;
  z << S(1e-30), -S(1e-30), S(1e-10), -S(3e-8), S(1e-3), S(0), S(1e3), -S(1e3), S(30), -S(30),
      std::numeric_limits<S>::infinity(), -std::numeric_limits<S>::infinity(), S(2e-4), S(0.5), S(0.7), -S(5);
  const Array t = sf::Tanh{}.values(z);
  const Array s = sf::Sigmoid{}.values(z);
  for (int i = 0; i < z.size(); ++i) {
    INFO("z = " << z[i]);
    const long double tr = std::tanh(static_cast<long double>(z[i]));
    const long double sr = 1.0L / (1.0L + std::exp(-static_cast<long double>(z[i])));
    const S tol = 4 * std::numeric_limits<S>::epsilon();
    if (tr == 0) CHECK(t[i] == 0);
    else CHECK(std::abs((static_cast<long double>(t[i]) - tr) / tr) <= tol);
    // σ(z) below the smallest normal number is flushed to zero.
    if (sr >= std::numeric_limits<S>::min()) CHECK(std::abs((static_cast<long double>(s[i]) - sr) / sr) <= tol);
    else CHECK(s[i] == 0);
  }
  const Array nan = Array::Constant(std::numeric_limits<S>::quiet_NaN());
  CHECK(sf::Tanh{}.values(nan).isNaN().all());
  CHECK(sf::Sigmoid{}.values(nan).isNaN().all());
}

TEST_CASE("long double and dual numbers take the scalar formulas, and derivatives come from σ(z)", "[kernels][dual]") {
  Eigen::Array<long double, 5, 1> z;
  z << -3.0L, -0.3L, 1e-12L, 0.7L, 2.0L;
  const Eigen::Array<long double, 5, 1> t = sf::Tanh{}.values(z);
  // The scalar tanh in long double (the SIMD constants are only double precision): to a few
  // long-double ulps (ε ≈ 1.1e-19), far below double precision.
  for (int i = 0; i < 5; ++i) CHECK(std::abs(t[i] - std::tanh(z[i])) <= 4 * std::numeric_limits<long double>::epsilon() * std::abs(t[i]));

  using D = sf::Dual<double>;
  Eigen::Array<D, 3, 1> zd;
  zd << D(-0.4, 1.0), D(0.2, 1.0), D(1.5, 1.0);
  const Eigen::Array<D, 3, 1> td = sf::Tanh{}.values(zd);
  const Eigen::Array<D, 3, 1> dd = sf::Tanh{}.derivatives(zd, td);
  const Eigen::Array<D, 3, 1> sd = sf::Sigmoid{}.values(zd);
  for (int i = 0; i < 3; ++i) {
    const double x = zd[i].value;
    const double th = std::tanh(x);
    const double sg = 1 / (1 + std::exp(-x));
    CHECK(std::abs(td[i].eps - (1 - th * th)) <= 1e-15);           // tanh'
    CHECK(std::abs(dd[i].eps - (-2 * th * (1 - th * th))) <= 1e-15);  // tanh''
    CHECK(std::abs(sd[i].eps - sg * (1 - sg)) <= 1e-15);            // σ'
  }
}

TEMPLATE_TEST_CASE("fixed-size and dynamic-size smooth networks agree through the SIMD kernels", "[kernels][dynamic]",
                   sf::Tanh, sf::Sigmoid) {
  // 7 × 9 = 63 hidden entries per layer: the fixed model runs whole packets plus a remainder.
  using Fixed = sf::BiasedMlp<double, TestType, 4, 7, 5, 3>;
  using Dyn = sf::BiasedMlp<double, TestType, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Fixed fixed;
  const Dyn dyn({4, 7, 5, 3});
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::test::normal<Eigen::Matrix<double, 4, 9>>(rng);
    const auto y = sf::test::normal<Eigen::Matrix<double, 3, 9>>(rng);
    const typename Fixed::Params theta = sf::random_params(fixed, rng);
    const sf::Objective of(fixed, sf::MeanSquaredError{}, x, y);
    const sf::Objective od(dyn, sf::MeanSquaredError{}, Eigen::MatrixXd(x), Eigen::MatrixXd(y));
    const Eigen::VectorXd dtheta = theta;
    INFO("trial " << trial);
    CHECK(st::relative_error(od.gradient(dtheta), Eigen::VectorXd(of.gradient(theta))) <= 1e-15);
    CHECK(st::relative_error(od.value(dtheta), of.value(theta)) <= 1e-15);
  }
}

TEMPLATE_TEST_CASE("whitened input X = I gives the same loss, gradient and Hessian-vector product as any permutation",
                   "[kernels][identity-input]", sf::Identity, sf::Tanh, sf::ReLU) {
  // L(θ; X, Y) = L(θ; XP, YP) for a permutation P of the samples: the sum over samples is the same
  // sum in another order. With X = I the model skips both products with X; with X = P it cannot.
  using Net = sf::TwoLayer<double, TestType, 10, 50, 5>;
  const Net net;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    Eigen::PermutationMatrix<10> perm;
    perm.setIdentity();
    std::shuffle(perm.indices().data(), perm.indices().data() + 10, rng);
    const Eigen::Matrix<double, 10, 10> identity = Eigen::Matrix<double, 10, 10>::Identity();
    const Eigen::Matrix<double, 10, 10> permuted = identity * perm;
    const auto y = sf::test::normal<Eigen::Matrix<double, 5, 10>>(rng);
    const Eigen::Matrix<double, 5, 10> y_permuted = y * perm;
    const typename Net::Params theta = sf::random_params(net, rng, 0.3);
    const typename Net::Params v = sf::random_params(net, rng, 1.0);
    const sf::Objective whitened(net, sf::MeanSquaredError{}, identity, y);
    const sf::Objective shuffled(net, sf::MeanSquaredError{}, permuted, y_permuted);
    INFO("trial " << trial);
    CHECK(st::relative_error(whitened.value(theta), shuffled.value(theta)) <= 1e-14);
    CHECK(st::relative_error(whitened.gradient(theta), shuffled.gradient(theta)) <= 1e-14);
    CHECK(st::relative_error(whitened.hessian_vector_product(theta, v), shuffled.hessian_vector_product(theta, v)) <=
          1e-13);
    // Dynamic sizes take the same shortcut.
    using Dyn = sf::TwoLayer<double, TestType, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    const sf::Objective dynamic(Dyn({10, 50, 5}), sf::MeanSquaredError{}, Eigen::MatrixXd(identity), Eigen::MatrixXd(y));
    CHECK(st::relative_error(dynamic.gradient(Eigen::VectorXd(theta)), Eigen::VectorXd(shuffled.gradient(theta))) <=
          1e-14);
  }
}

TEST_CASE("the gradient at whitened input is the derivative of the loss", "[kernels][identity-input]") {
  using Net = sf::TwoLayer<double, sf::Sigmoid, 6, 9, 4>;
  const Net net;
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const sf::Objective objective(net, sf::HalfSquaredError{}, Eigen::Matrix<double, 6, 6>::Identity().eval(),
                                  sf::test::normal<Eigen::Matrix<double, 4, 6>>(rng));
    const Net::Params theta = sf::random_params(net, rng, 0.7);
    const Net::Params fd = st::finite_difference_gradient([&](const Net::Params& t) { return objective.value(t); }, theta);
    CHECK(st::relative_error(objective.gradient(theta), fd, 1e-3) <= 1e-7);
  }
}

TEST_CASE("float sums of squares are accumulated in double", "[kernels][reduction]") {
  auto rng = rng_for(0);
  std::normal_distribution<float> normal;
  // 1 000 003 entries: whole blocks of 32 partial sums plus a remainder.
  Eigen::VectorXf x(1000003);
  for (auto& v : x) v = normal(rng);
  long double reference = 0;
  for (float v : x) reference += static_cast<long double>(v) * v;
  const double got = sf::sum_of_squares(x);
  static_assert(std::is_same_v<decltype(sf::sum_of_squares(x)), double>);
  // Squares of floats are exact in double; a million double additions lose at most ~1e-10.
  CHECK(std::abs((got - static_cast<double>(reference)) / static_cast<double>(reference)) <= 1e-12);
  // A strided view (a matrix row) takes the general path with the same result type.
  const Eigen::MatrixXf m = Eigen::Map<const Eigen::MatrixXf>(x.data(), 1000, 1000);
  long double row = 0;
  for (int j = 0; j < 1000; ++j) row += static_cast<long double>(m(3, j)) * m(3, j);
  CHECK(std::abs((sf::sum_of_squares(m.row(3)) - static_cast<double>(row)) / static_cast<double>(row)) <= 1e-14);
  CHECK(sf::sum_of_squares(Eigen::VectorXf()) == 0.0);
}

TEST_CASE("double sums of squares are summed in blocks with compensated block totals", "[kernels][reduction]") {
  auto rng = rng_for(2);
  std::normal_distribution<double> normal;
  Eigen::VectorXd x(3000017);
  for (auto& v : x) v = normal(rng);
  long double reference = 0;
  for (double v : x) reference += static_cast<long double>(v) * v;
  // The error does not grow with the three million entries: measured 7e-17, where Eigen's 16-lane
  // squaredNorm is off by 1.3e-15 and a left-to-right sum by 2.5e-14 on the same data.
  CHECK(std::abs((sf::sum_of_squares(x) - static_cast<double>(reference)) / static_cast<double>(reference)) <= 3e-16);
}

TEMPLATE_TEST_CASE("row sums of squares add the columns in order, several columns per pass",
                   "[kernels][reduction]", float, double) {
  // 300 × 301 (more than 64k entries, the streaming path): 301 columns are whole groups of 8 (double)
  // or 16 (float) plus a remainder. Columns added in order give the very sums of a left-to-right loop
  // in double, bit for bit; a block of a larger matrix (outer stride 307) gives the same.
  auto rng = rng_for(3);
  std::normal_distribution<double> normal;
  Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> big(307, 301);
  for (auto& v : big.reshaped()) v = static_cast<TestType>(normal(rng));
  const Eigen::Matrix<TestType, Eigen::Dynamic, Eigen::Dynamic> x = big.topRows(300);
  Eigen::VectorXd plain = Eigen::VectorXd::Zero(300), positive = Eigen::VectorXd::Zero(300);
  for (int j = 0; j < x.cols(); ++j)
    for (int k = 0; k < x.rows(); ++k) {
      const double v = x(k, j);
      plain[k] += v * v;
      positive[k] += v > 0 ? v * v : 0.0;
    }
  const auto rows = sf::row_sums_of_squares(x);
  static_assert(std::is_same_v<typename decltype(rows)::Scalar, double>);
  CHECK((rows.array() == plain.array()).all());
  CHECK((sf::row_sums_of_squares<true>(x).array() == positive.array()).all());
  CHECK((sf::row_sums_of_squares(big.topRows(300)).array() == plain.array()).all());
  // Column sums: compensated per column, within a few roundings of the long-double sums.
  const Eigen::VectorXd columns = sf::column_sums_of_squares(x);
  for (int j = 0; j < x.cols(); ++j) {
    long double column = 0;
    for (int k = 0; k < x.rows(); ++k) column += static_cast<long double>(x(k, j)) * x(k, j);
    CHECK(std::abs(columns[j] - static_cast<double>(column)) <= 1e-15 * static_cast<double>(column));
  }
}

TEST_CASE("the float layer-imbalance trace keeps its digits although it is a difference of nearly equal sums",
          "[kernels][reduction]") {
  // m = h = n: E Tr Q = 0 under Xavier initialisation, while each sum is about h = 300.
  using Net = sf::TwoLayer<float, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({300, 300, 300});
  auto rng = rng_for(1);
  for (int trial = 0; trial < 5; ++trial) {
    Net::Params theta = sf::random_params(net, rng, 1.0f / std::sqrt(300.0f));
    long double sv = 0, su = 0;
    for (float v : net.weight<1>(theta).reshaped()) sv += static_cast<long double>(v) * v;
    for (float u : net.weight<2>(theta).reshaped()) su += static_cast<long double>(u) * u;
    const long double reference = sv - su;
    const float q = sf::LayerImbalanceTrace<Net>(net).value(theta);
    INFO("trial " << trial << ": Tr Q = " << static_cast<double>(reference) << " from sums near " << static_cast<double>(sv));
    // One float rounding of the result (2^-24 relative), nothing from the two sums.
    CHECK(std::abs((static_cast<long double>(q) - reference) / reference) <= 6.0e-8L);
  }
}
