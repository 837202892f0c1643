// Specification of symflow::Dual's elementary functions: for every <cmath> function an activation
// or a loss may reasonably use, f(a + bε) = f(a) + f′(a)·b·ε, with the value part equal to the
// standard function's (to 1e-15 relative against long double) and the ε part equal to a long double Richardson-extrapolated central
// difference of the standard function to 1e-9 relative, at random points of each function's
// domain. A GELU activation written with erf then gives exact Hessian-vector products.
#include "support.hpp"

#include <cmath>
#include <functional>
#include <string>

#include <symflow/core/dual.hpp>

namespace sf = symflow;
using sf::test::rng_for;
using D = sf::Dual<double>;

namespace {

/// f′(x) by Richardson extrapolation of central differences in long double (error O(h⁶)).
double reference_derivative(const std::function<long double(long double)>& f, double x) {
  const long double h = 1e-3L * std::max(1.0L, std::abs(static_cast<long double>(x)));
  const auto central = [&](long double s) { return (f(x + s) - f(x - s)) / (2 * s); };
  const long double d1 = central(h), d2 = central(h / 2), d3 = central(h / 4);
  const long double r1 = (4 * d2 - d1) / 3, r2 = (4 * d3 - d2) / 3;
  return static_cast<double>((16 * r2 - r1) / 15);
}

struct Case {
  std::string name;
  std::function<D(const D&)> dual;
  std::function<long double(long double)> reference;
  double lo, hi;
};

/// GELU, σ(x) = x Φ(x) = ½x(1 + erf(x/√2)), written as a user would, with erf found by lookup.
struct Gelu {
  template <class S> S value(const S& z) const {
    using std::erf;
    return S(0.5) * z * (S(1) + erf(z * S(0.7071067811865475244)));
  }
  template <class S> S derivative(const S& z) const {
    using std::erf;
    using std::exp;
    return S(0.5) * (S(1) + erf(z * S(0.7071067811865475244))) + z * exp(S(-0.5) * z * z) * S(0.3989422804014327);
  }
  static std::string name() { return "gelu"; }
};

}  // namespace

TEST_CASE("Dual covers the <cmath> functions an activation may use, with exact derivatives", "[dual]") {
  using std::pow;
  const std::vector<Case> cases = {
      {"exp", [](const D& a) { return exp(a); }, [](long double x) { return std::exp(x); }, -3, 3},
      {"expm1", [](const D& a) { return expm1(a); }, [](long double x) { return std::expm1(x); }, -3, 3},
      {"exp2", [](const D& a) { return exp2(a); }, [](long double x) { return std::exp2(x); }, -3, 3},
      {"log", [](const D& a) { return log(a); }, [](long double x) { return std::log(x); }, 0.1, 5},
      {"log1p", [](const D& a) { return log1p(a); }, [](long double x) { return std::log1p(x); }, -0.5, 5},
      {"log2", [](const D& a) { return log2(a); }, [](long double x) { return std::log2(x); }, 0.1, 5},
      {"log10", [](const D& a) { return log10(a); }, [](long double x) { return std::log10(x); }, 0.1, 5},
      {"sqrt", [](const D& a) { return sqrt(a); }, [](long double x) { return std::sqrt(x); }, 0.1, 5},
      {"cbrt", [](const D& a) { return cbrt(a); }, [](long double x) { return std::cbrt(x); }, 0.1, 5},
      {"sin", [](const D& a) { return sin(a); }, [](long double x) { return std::sin(x); }, -3, 3},
      {"cos", [](const D& a) { return cos(a); }, [](long double x) { return std::cos(x); }, -3, 3},
      {"tan", [](const D& a) { return tan(a); }, [](long double x) { return std::tan(x); }, -1.2, 1.2},
      {"asin", [](const D& a) { return asin(a); }, [](long double x) { return std::asin(x); }, -0.9, 0.9},
      {"acos", [](const D& a) { return acos(a); }, [](long double x) { return std::acos(x); }, -0.9, 0.9},
      {"atan", [](const D& a) { return atan(a); }, [](long double x) { return std::atan(x); }, -3, 3},
      {"sinh", [](const D& a) { return sinh(a); }, [](long double x) { return std::sinh(x); }, -3, 3},
      {"cosh", [](const D& a) { return cosh(a); }, [](long double x) { return std::cosh(x); }, -3, 3},
      {"tanh", [](const D& a) { return tanh(a); }, [](long double x) { return std::tanh(x); }, -3, 3},
      {"asinh", [](const D& a) { return asinh(a); }, [](long double x) { return std::asinh(x); }, -3, 3},
      {"acosh", [](const D& a) { return acosh(a); }, [](long double x) { return std::acosh(x); }, 1.1, 4},
      {"atanh", [](const D& a) { return atanh(a); }, [](long double x) { return std::atanh(x); }, -0.9, 0.9},
      {"erf", [](const D& a) { return erf(a); }, [](long double x) { return std::erf(x); }, -3, 3},
      {"erfc", [](const D& a) { return erfc(a); }, [](long double x) { return std::erfc(x); }, -3, 3},
      {"abs", [](const D& a) { return abs(a); }, [](long double x) { return std::abs(x); }, 0.1, 3},
      {"fabs", [](const D& a) { return fabs(a); }, [](long double x) { return std::fabs(x); }, -3, -0.1},
      {"pow(x, 3) (int exponent)", [](const D& a) { return pow(a, 3); }, [](long double x) { return x * x * x; }, -3, 3},
      {"pow(x, 2.5)", [](const D& a) { return pow(a, 2.5); }, [](long double x) { return std::pow(x, 2.5L); }, 0.1, 3},
      {"pow(x, x)", [](const D& a) { return pow(a, a); }, [](long double x) { return std::pow(x, x); }, 0.2, 3},
      {"pow(2, x)", [](const D& a) { return pow(2.0, a); }, [](long double x) { return std::pow(2.0L, x); }, -3, 3},
      {"atan2(x, 2 − x)", [](const D& a) { return atan2(a, D(2) - a); },
       [](long double x) { return std::atan2(x, 2 - x); }, -3, 1.5},
      {"hypot(x, 1 + x²)", [](const D& a) { return hypot(a, D(1) + a * a); },
       [](long double x) { return std::hypot(x, 1 + x * x); }, -3, 3},
      {"fmax(x, x²)", [](const D& a) { return fmax(a, a * a); }, [](long double x) { return std::fmax(x, x * x); }, 0.1, 0.9},
      {"fmin(x, x²)", [](const D& a) { return fmin(a, a * a); }, [](long double x) { return std::fmin(x, x * x); }, 0.1, 0.9},
  };
  for (const Case& c : cases) {
    for (int trial = 0; trial < 20; ++trial) {
      auto rng = rng_for(trial);
      const double x = std::uniform_real_distribution<double>(c.lo, c.hi)(rng);
      INFO(c.name << " at x = " << x);
      const D y = c.dual(D(x, 1.0));
      CHECK(sf::testing::relative_error(y.value, static_cast<double>(c.reference(x)), 1e-300) <= 1e-15);
      CHECK(sf::testing::relative_error(y.eps, reference_derivative(c.reference, x), 1e-12) <= 1e-9);
      // The ε part is linear in the seed: f(a + 2bε) has twice the ε part.
      CHECK(c.dual(D(x, 2.0)).eps == 2 * y.eps);
    }
  }
  // Piecewise-constant functions have derivative 0; signbit and the classification functions
  // look at the value (and, for the latter, the ε part).
  CHECK(floor(D(1.5, 1.0)).eps == 0);
  CHECK(ceil(D(1.5, 1.0)).value == 2);
  CHECK(round(D(1.5, 1.0)).value == 2);
  CHECK(trunc(D(-1.5, 1.0)).value == -1);
  CHECK(signbit(D(-0.5, 1.0)));
  CHECK_FALSE(isfinite(D(1.0, std::numeric_limits<double>::infinity())));
}

TEST_CASE("a GELU activation written with erf gives exact Hessian-vector products", "[dual][gelu]") {
  using Net = sf::TwoLayer<double, Gelu, 3, 5, 2>;
  const Net net;
  for (int trial = 0; trial < 5; ++trial) {
    auto rng = rng_for(trial);
    const sf::Objective objective(net, sf::HalfSquaredError{}, sf::test::normal<Eigen::Matrix<double, 3, 4>>(rng),
                                  sf::test::normal<Eigen::Matrix<double, 2, 4>>(rng));
    const Net::Params theta = sf::random_params(net, rng);
    const Net::Params v = sf::random_params(net, rng);
    const Net::Params hv = objective.hessian_vector_product(theta, v);
    // Central difference of the gradient along v (step 1e-5: error ~1e-10 relative).
    const double h = 1e-5;
    const Net::Params fd = (objective.gradient(theta + h * v) - objective.gradient(theta - h * v)) / (2 * h);
    INFO("trial " << trial);
    CHECK(sf::testing::relative_error(hv, fd) <= 1e-7);
  }
}

TEST_CASE("nested duals: a real exponent stays real at every level, and real_part is the innermost value",
          "[dual][nested]") {
  // x ↦ x^p at x + ε₁ + ε₂ (Dual<Dual<double>>): the ε₁ε₂ part is p(p − 1)x^{p−2}, the second
  // derivative, exact to rounding (1e-14 relative); the same for the Homogeneous activation.
  using DD = sf::Dual<D>;
  auto rng = rng_for(0x5eed);
  std::uniform_real_distribution<double> point(0.2, 3.0);
  for (int trial = 0; trial < 100; ++trial) {
    const double x = point(rng);
    for (const double p : {2.0, 2.5, 0.5, 3.0}) {
      const DD a(D(x, 1.0), D(1.0, 0.0));
      const DD y = pow(a, p);
      const double second = p * (p - 1) * std::pow(x, p - 2);
      CHECK(std::abs(y.eps.eps - second) <= 1e-14 * std::abs(second) + 1e-300);
      CHECK(std::abs(y.value.value - std::pow(x, p)) <= 1e-15 * std::pow(x, p));
      const DD z = sf::Homogeneous{p}.value(a);
      CHECK(z.eps.eps == y.eps.eps);
    }
  }
  static_assert(std::is_same_v<decltype(sf::real_part(std::declval<const DD&>())), double>);
  CHECK(sf::real_part(DD(D(1.5, 2.0), D(3.0, 4.0))) == 1.5);
  // x⁰ = 1 with derivative 0, also at x = 0; 0¹ has derivative 1 (from the right).
  CHECK(pow(D(0.0, 1.0), 0).value == 1.0);
  CHECK(pow(D(0.0, 1.0), 0).eps == 0.0);
  CHECK(pow(D(0.0, 1.0), 1).eps == 1.0);
  CHECK(pow(D(2.0, 1.0), 0u).eps == 0.0);
}
