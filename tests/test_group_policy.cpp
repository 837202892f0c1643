// Specification of the open design for groups: an activation's declared group policy gives the
// symmetry, its conserved quantity and its orbit formula, whoever wrote the activation or the
// group; symflow::testing's generic checks hold for every policy in float, double and long double.
#include "group_support.hpp"

#include <algorithm>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;

namespace {

// A user activation σ(z) = 2z, declared GL-equivariant (σ(gz) = 2gz = gσ(z)) and nothing else.
struct Doubling {
  using equivariance = sf::GeneralLinearEquivariant;
  template <class S> S value(const S& z) const { return S(2) * z; }
  template <class S> S derivative(const S&) const { return S(2); }
};

// A group of one's own, written in one place: the uniform dilations c·I (c > 0) of a hidden layer
// of a positively homogeneous activation, π(c) = c^α. It is the diagonal of (R>0)^h, so its one
// conserved quantity is the sum of the per-unit imbalance: ‖W_i‖² + ‖b_i‖² − α‖W_{i+1}‖².
template <class Scalar, int H>
class UniformDilation {
 public:
  using AlgebraType = sf::DiagonalAlgebra<Scalar, 1>;
  using Group = typename AlgebraType::GroupElement;
  using Algebra = typename AlgebraType::Element;

  template <class Activation>
  UniformDilation(const Activation& a, sf::Index) : algebra_(1), alpha_(Scalar(sf::homogeneity_degree(a))) {}

  const AlgebraType& algebra() const { return algebra_; }
  Group compose(const Group& a, const Group& b) const { return a.cwiseProduct(b); }
  Group inverse(const Group& g) const { return g.cwiseInverse(); }
  Group transpose(const Group& g) const { return g; }
  Group pi(const Group& g) const { using std::pow; return Group::Constant(1, pow(g[0], alpha_)); }
  Algebra dpi(const Algebra& m) const { return alpha_ * m; }

  Scalar check_group(const Group& g) const {
    sf::detail::require_length("dilation c", 1, g.size());
    if (!(g[0] > Scalar(0))) throw std::invalid_argument("UniformDilation: c must be positive");
    using std::pow;
    return pow(g[0], -alpha_);
  }
  void check_algebra(const Algebra& m) const { sf::detail::require_length("Lie algebra element m", 1, m.size()); }
  template <class X> void act_rows(const Group& g, X& x) const { x *= g[0]; }
  template <class U> void act_columns(Scalar undo, U& u) const { u *= undo; }
  template <class X, class Out> void add_rows(const Algebra& m, const X& x, Out&& out) const { out += m[0] * x; }
  template <class U, class Out> void add_columns(const Algebra& m, const U& u, Out&& out) const {
    out -= (alpha_ * m[0]) * u;
  }
  // M ↦ (mV, −αmU) vanishes only at m = 0 unless U = V = 0.
  static constexpr sf::Index generic_orbit_dimension(sf::Index, sf::Index, sf::Index) { return 1; }

 private:
  AlgebraType algebra_;
  Scalar alpha_;
};

// The policy: the representation and the action it names.
struct UniformDilationEquivariant {
  template <class Scalar, int H> using group = UniformDilation<Scalar, H>;
  template <class Model, int Layer> using action = sf::LinearHiddenLayerAction<Model, Layer, UniformDilationEquivariant>;
  using subgroups = std::tuple<>;
};

// A user activation that declares the user's group: σ(z) = max(z, 0)² (degree 2).
struct SquaredReLU {
  using equivariance = UniformDilationEquivariant;
  static constexpr double degree() { return 2.0; }
  template <class S> S value(const S& z) const { return z > S(0) ? z * z : S(0); }
  template <class S> S derivative(const S& z) const { return z > S(0) ? S(2) * z : S(0); }
};

// The objective ½‖F(X) − Y‖² on random data of k samples.
template <class Net>
auto random_objective(const Net& net, std::mt19937_64& rng, sf::Index k = 6) {
  using S = typename Net::Scalar;
  using X = Eigen::Matrix<S, Net::input_width, Eigen::Dynamic>;
  using Y = Eigen::Matrix<S, Net::output_width, Eigen::Dynamic>;
  const X x = sf::random_normal<X>(net.input_size(), k, rng);
  const Y y = sf::random_normal<Y>(net.output_size(), k, rng);
  return sf::Objective(net, sf::HalfSquaredError{}, x, y);
}

// symflow::testing::check_linear_symmetry over `trials` seeds: every exact identity within
// exact_tolerance<S>, the generator within derivative_tolerance<S> of central differences.
template <class Action, class Net>
void check_policy(const Net& net, int trials) {
  using S = typename Net::Scalar;
  const Action action(net);
  double exact = 0, derivative = 0;
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    const auto objective = random_objective(net, rng);
    const typename Net::Params theta = sf::random_params(net, rng, 0.7);
    const st::SymmetryReport r = st::check_linear_symmetry(action, objective, theta, rng);
    exact = std::max(exact, r.worst_exact());
    derivative = std::max(derivative, r.generator_derivative);
  }
  INFO("scalar with ε = " << std::numeric_limits<S>::epsilon() << ", " << trials << " seeds");
  CAPTURE(exact, derivative, st::exact_tolerance<S>(), st::derivative_tolerance<S>());
  CHECK(exact <= st::exact_tolerance<S>());
  CHECK(derivative <= st::derivative_tolerance<S>());
}

// W_1W_1ᵀ − W_2ᵀW_2 of any one-hidden-layer net, a quantity written by hand: conserved only for a
// linear σ (for ReLU only its diagonal is).
template <class Net>
struct WholeImbalance {
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  using Value = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  Net net;
  Value value(const Params& p) const {
    const auto w = net.template weight<1>(p);
    const auto u = net.template weight<2>(p);
    return w * w.transpose() - u.transpose() * u;
  }
};

}  // namespace

TEST_CASE("a user activation declared GL-equivariant gets the layer imbalance and Q_M", "[group][policy]") {
  using Net = sf::BiasedMlp<double, Doubling, 3, 4, 2>;
  const Net net;
  const auto s = sf::symmetry<1>(net);
  static_assert(std::is_same_v<std::remove_const_t<decltype(s)>, sf::GeneralLinearAction<Net, 1>>);
  const sf::LayerImbalance<Net, 1> imbalance(net);
  double worst = 0;
  for (int trial = 0; trial < 100; ++trial) {
    auto rng = rng_for(trial);
    const Net::Params theta = sf::random_params(net, rng);
    const auto m = s.algebra().random(rng);
    const sf::LieQuantity q(s, m);
    // ⟨M, Q_i⟩_F (the GL policy's quantity) against ⟨θ, M̄θ⟩ (the generator).
    worst = std::max(worst, st::relative_error(static_cast<double>(q.value(theta)),
                                               static_cast<double>(q.through_generator(theta)), 1e-300) );
    const auto w = net.weight<1>(theta);
    const auto b = net.bias<1>(theta);
    const auto u = net.weight<2>(theta);
    const Eigen::Matrix4d expected = w * w.transpose() + b * b.transpose() - u.transpose() * u;
    CHECK(st::relative_error(imbalance.value(theta), expected) <= 1e-14);
  }
  CHECK(worst <= 1e-12);
  // And it is conserved along the flow (a linear σ conserves every entry, for any data).
  auto rng = rng_for(1000);
  const auto objective = random_objective(net, rng);
  const Net::Params theta = sf::random_params(net, rng, 0.5);
  const double drift = st::conservation_drift(objective, imbalance, theta, 0.5);
  CAPTURE(drift);
  CHECK(drift <= 1e-9);
  // The scaling imbalance of the same layer (α = 1 for a linear σ) is its diagonal.
  const sf::ScalingImbalance<Net, 1> diagonal(net);
  CHECK(st::relative_error(diagonal.value(theta), imbalance.value(theta).diagonal()) <= 1e-14);
}

TEST_CASE("a group policy of one's own plugs into symmetry, the generic checks, Q_M and the orbit", "[group][policy]") {
  using Net = sf::BiasedMlp<double, SquaredReLU, 3, 5, 4, 2>;
  const Net net;
  using Action = sf::Symmetry<Net, 2>;
  static_assert(std::is_same_v<Action, sf::LinearHiddenLayerAction<Net, 2, UniformDilationEquivariant>>);
  static_assert(sf::generic_orbit_dimension<sf::equivariance<SquaredReLU>>(2, 5, 3) == 1);
  check_policy<Action>(net, 100);
  const Action action = sf::symmetry<2>(net);
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng, 0.5);
  // Q_M through the generator: m (‖W_2‖² + ‖b_2‖² − 2‖W_3‖²).
  const sf::LieQuantity q(action, Eigen::Matrix<double, 1, 1>::Constant(1.0));
  const double expected = net.weight<2>(theta).squaredNorm() + net.bias<2>(theta).squaredNorm() -
                          2.0 * net.weight<3>(theta).squaredNorm();
  CHECK(st::relative_error(q.value(theta), expected) <= 1e-13);
  const auto objective = random_objective(net, rng);
  const double drift = st::conservation_drift(objective, q, theta, 0.5);
  CAPTURE(drift);
  CHECK(drift <= 1e-9);
  const sf::OrbitDimension orbit = sf::orbit_dimension(action, theta);
  CHECK(orbit.dimension == 1);
  // The product over both hidden layers: ReLU² declares only the user's group, so both factors are it.
  const auto both = sf::product_symmetry(net);
  CHECK(both.algebra().dimension() == 2);
}

TEST_CASE("the generic checks hold for every built-in policy in float, double and long double", "[group][policy][testing]") {
  // GL_h on a linear layer, positive scaling on a homogeneous one, O(h) on a radial one; the first in
  // all three scalars and with dynamic widths.
  check_policy<sf::GeneralLinearAction<sf::BiasedMlp<double, sf::Identity, 3, 5, 2>>>(
      sf::BiasedMlp<double, sf::Identity, 3, 5, 2>{}, 100);
  check_policy<sf::GeneralLinearAction<sf::BiasedMlp<float, sf::Identity, 3, 5, 2>>>(
      sf::BiasedMlp<float, sf::Identity, 3, 5, 2>{}, 100);
  check_policy<sf::GeneralLinearAction<sf::BiasedMlp<long double, sf::Identity, 3, 5, 2>>>(
      sf::BiasedMlp<long double, sf::Identity, 3, 5, 2>{}, 100);
  using Dynamic = sf::Mlp<double, sf::Homogeneous, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  check_policy<sf::ScalingAction<Dynamic>>(Dynamic({3, 6, 2}, sf::Homogeneous{2.5}), 100);
  using Radial = sf::Mlp<double, sf::Radial<sf::test::InverseQuadratic>, 3, 5, 2>;
  check_policy<sf::OrthogonalAction<Radial>>(Radial{}, 100);
}

TEST_CASE("conservation_drift tells a conserved quantity from one that is not", "[group][policy][testing]") {
  // The layer imbalance of a ReLU layer is not conserved (only its diagonal is): the same check that
  // passes above at 1e-9 sees a drift of order one in its off-diagonal entries.
  using Net = sf::Mlp<double, sf::ReLU, 3, 4, 2>;
  const Net net;
  auto rng = rng_for(7);
  const auto objective = random_objective(net, rng);
  const Net::Params theta = sf::random_params(net, rng, 0.8);
  const double kept = st::conservation_drift(objective, sf::ScalingImbalance<Net, 1>(net), theta, 0.5);
  const double broken = st::conservation_drift(objective, WholeImbalance<Net>{net}, theta, 0.5);
  CAPTURE(kept, broken);
  CHECK(kept <= 1e-9);
  CHECK(broken >= 1e-3);
}

namespace {

// The same user activation twice, σ(z) = max(z, z/5): once knowing only σ and σ′, once also stating
// its facts (Φ(v) = v²/2 as a quadratic potential, and the Gaussian moments of Φ) as symflow's own
// activations do.
struct PlainLeaky {
  template <class S> S value(const S& z) const { return z < S(0) ? S(0.2) * z : z; }
  template <class S> S derivative(const S& z) const { return z < S(0) ? S(0.2) : S(1); }
};
struct InformedLeaky : PlainLeaky {
  using equivariance = sf::ScalingEquivariant;
  static constexpr double degree() { return 1.0; }
  template <class S> S potential(const S& v) const { return v * v / S(2); }
  template <class S> S potential_ratio(const S& x) const { return x; }
  template <class T> T quadratic_potential() const { return T(0.5); }
  static constexpr bool quadratic_potential_positive_part = false;
  static sf::Moments gaussian_potential_moments(double s2) { return {s2 / 2, s2 * s2 / 2}; }
};

}  // namespace

TEST_CASE("a user activation that states its facts gets the closed forms the built-in ones get", "[group][policy]") {
  static_assert(!sf::has_closed_form_potential<PlainLeaky> && sf::has_closed_form_potential<InformedLeaky>);
  static_assert(!sf::has_gaussian_potential_moments<PlainLeaky> && sf::has_gaussian_potential_moments<InformedLeaky>);
  using Plain = sf::Mlp<double, PlainLeaky, 4, 6, 3>;
  using Informed = sf::Mlp<double, InformedLeaky, 4, 6, 3>;
  const sf::ElementwiseQuantity<Plain> by_quadrature{Plain{}};
  const sf::ElementwiseQuantity<Informed> by_sums_of_squares{Informed{}};
  double worst = 0;
  for (int trial = 0; trial < 100; ++trial) {
    auto rng = rng_for(trial);
    const Plain::Params theta = sf::random_params(Plain{}, rng);
    // Eq. (48) through Gauss–Kronrod of σ/σ′ = x against the row sums of squares.
    worst = std::max(worst, st::relative_error(by_sums_of_squares.value(theta), by_quadrature.value(theta)));
  }
  CAPTURE(worst);
  CHECK(worst <= 1e-12);
  // Appendix E's closed form for the sum of eq. (48) now exists for it, and is LeakyReLU's.
  const sf::Moments mine = sf::elementwise_quantity_moments(InformedLeaky{}, 3, 6, 4, 0.5, 0.25);
  const sf::Moments leaky = sf::elementwise_quantity_moments(sf::LeakyReLU{}, 3, 6, 4, 0.5, 0.25);
  CHECK(mine.mean == leaky.mean);
  CHECK(mine.variance == leaky.variance);
  // And the declared scaling symmetry with its per-unit imbalance.
  CHECK(sf::symmetry<1>(Informed{}).degree() == 1.0);
}
