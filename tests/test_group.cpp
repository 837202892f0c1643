// Specification of the Lie algebras (dimension, basis, coordinates, exp), of the deduction of each
// hidden layer's group from the activation, of the generator blocks (eqs. 13, 18) and of the errors
// the actions raise. The symmetry properties themselves are in test_group_linear.cpp.
#include "group_support.hpp"

#include <cmath>
#include <type_traits>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::InverseQuadratic;
using sf::test::CubedReLU;
using sf::test::SoftNormalize;

namespace {

constexpr int kTrials = 100;

template <class Algebra>
void check_algebra(const Algebra& a, bool check_orthogonal) {
  using Element = typename Algebra::Element;
  // The basis is the coordinate basis: coordinates(basis(i)) = e_i, and coordinates invert.
  for (sf::Index i = 0; i < a.dimension(); ++i) {
    const auto c = a.coordinates(a.basis(i));
    CHECK(c[i] == 1.0);
    CHECK(c.cwiseAbs().sum() == 1.0);
  }
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Element m = a.random(rng);
    CHECK(a.contains(m));
    CHECK(a.from_coordinates(a.coordinates(m)) == m);
    const Element big = m * (3.0 / m.norm());
    const auto g = a.exp(big);
    CHECK(a.group_contains(g));
    const auto as_matrix = [&](const auto& e) { return Eigen::MatrixXd(a.matrix(e)); };
    // exp agrees with the Padé scaling-and-squaring exponential of the matrix.
    const Eigen::MatrixXd reference = as_matrix(big).exp();
    CHECK(st::relative_error(as_matrix(g), reference) <= 1e-13);
    // One-parameter subgroup: exp(sM) exp(tM) = exp((s + t)M), and exp(−M) = exp(M)⁻¹.
    const Eigen::MatrixXd product = as_matrix(a.exp(big * 0.3)) * as_matrix(a.exp(big * 0.7));
    CHECK(st::relative_error(product, as_matrix(g)) <= 1e-13);
    const Eigen::MatrixXd eye = Eigen::MatrixXd::Identity(a.size(), a.size());
    CHECK(st::relative_error((as_matrix(a.exp(-big)) * as_matrix(g)).eval(), eye) <= 1e-13);
    // det exp(M) = e^{tr M}.
    CHECK(st::relative_error(as_matrix(g).determinant(), std::exp(as_matrix(big).trace())) <= 1e-12);
    if (check_orthogonal) CHECK((as_matrix(g).transpose() * as_matrix(g) - eye).norm() <= 1e-14);
  }
}

}  // namespace

TEST_CASE("gl(h), the diagonal algebra and so(h): dimension, basis, coordinates and exp", "[group][algebra]") {
  for (const sf::Index h : {1, 2, 3, 4, 7}) {
    INFO("h = " << h);
    const sf::GeneralLinearAlgebra<double> gl(h);
    const sf::DiagonalAlgebra<double> diag(h);
    const sf::OrthogonalAlgebra<double> so(h);
    CHECK(gl.dimension() == h * h);
    CHECK(diag.dimension() == h);
    CHECK(so.dimension() == h * (h - 1) / 2);
    check_algebra(gl, false);
    check_algebra(diag, false);
    if (h > 1) check_algebra(so, true);
  }
  // Fixed sizes give the same elements as dynamic ones.
  const sf::OrthogonalAlgebra<double, 3> so3;
  const sf::OrthogonalAlgebra<double> so3d(3);
  auto rng = rng_for(0);
  const auto m = so3.random(rng);
  CHECK(st::relative_error(so3.exp(m), so3d.exp(Eigen::MatrixXd(m))) <= 1e-15);
  static_assert(std::is_same_v<decltype(so3.exp(m)), Eigen::Matrix3d>);
  // so(h) basis E_kl − E_lk, ordered (0,1), (0,2), (1,2), …
  const sf::OrthogonalAlgebra<double> so4(4);
  CHECK(so4.basis(2)(1, 2) == 1.0);
  CHECK(so4.basis(2)(2, 1) == -1.0);
  CHECK(so4.basis(5)(2, 3) == 1.0);
  CHECK_THROWS_AS(so4.basis(6), std::out_of_range);
  CHECK_THROWS_WITH(sf::GeneralLinearAlgebra<double>(0), Catch::Contains("h > 0"));
}

TEST_CASE("closed-form exponentials agree with the series at small and large arguments", "[group][algebra][exp]") {
  // gl(2) in all three regimes of δ = −det(traceless part): hyperbolic, parabolic and elliptic.
  const sf::GeneralLinearAlgebra<double, 2> gl2;
  Eigen::Matrix2d hyperbolic, parabolic, elliptic;
  hyperbolic << 0.3, 2.0, 1.5, -0.1;
  parabolic << 0.5, 1.0, 0.0, 0.5;
  elliptic << 0.2, -3.0, 2.0, 0.4;
  for (const Eigen::Matrix2d& m : {hyperbolic, parabolic, elliptic, Eigen::Matrix2d(1e-9 * elliptic)}) {
    CHECK(st::relative_error(gl2.exp(m), Eigen::Matrix2d(m.exp())) <= 1e-14);
  }
  // so(3): Rodrigues near θ = 0, at θ = π and beyond.
  const sf::OrthogonalAlgebra<double, 3> so3;
  for (const double angle : {1e-10, 1e-5, 1.0, M_PI, 5.0}) {
    Eigen::Vector3d c(0.36, -0.48, 0.8);  // unit axis
    const Eigen::Matrix3d m = so3.from_coordinates(angle * c);
    CHECK(st::relative_error(so3.exp(m), Eigen::Matrix3d(m.exp())) <= 1e-14);
  }
}

TEST_CASE("the equivariance trait deduces each hidden layer's group from the activation", "[group][deduction]") {
  using Linear = sf::Mlp<double, sf::Identity, 3, 4, 2>;
  using Relu = sf::BiasedMlp<double, sf::ReLU, 3, 4, 5, 2>;
  using Rad = sf::Mlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
  static_assert(std::is_same_v<sf::Symmetry<Linear>, sf::GeneralLinearAction<Linear, 1>>);
  static_assert(std::is_same_v<sf::Symmetry<Relu, 2>, sf::ScalingAction<Relu, 2>>);
  static_assert(std::is_same_v<sf::Symmetry<sf::Mlp<double, sf::LeakyReLU, 3, 4, 2>>,
                               sf::ScalingAction<sf::Mlp<double, sf::LeakyReLU, 3, 4, 2>, 1>>);
  static_assert(std::is_same_v<sf::Symmetry<sf::Mlp<double, sf::Homogeneous, 3, 4, 2>>,
                               sf::ScalingAction<sf::Mlp<double, sf::Homogeneous, 3, 4, 2>, 1>>);
  static_assert(std::is_same_v<sf::Symmetry<Rad>, sf::OrthogonalAction<Rad, 1>>);
  static_assert(std::is_same_v<sf::ProductSymmetry<Relu>,
                               sf::ProductAction<sf::ScalingAction<Relu, 1>, sf::ScalingAction<Relu, 2>>>);
  // User activations: the intrusive member type and the non-intrusive specialisation.
  static_assert(std::is_base_of_v<sf::ScalingEquivariant, sf::equivariance<CubedReLU>>);
  static_assert(std::is_base_of_v<sf::OrthogonalEquivariant, sf::equivariance<SoftNormalize>>);
  static_assert(!sf::LinearlyEquivariantActivation<sf::Tanh>);
  static_assert(!sf::LinearlyEquivariantActivation<sf::Sigmoid>);
  // A linear layer admits every subgroup of GL_h; a ReLU layer admits only scaling.
  static_assert(sf::ScalingEquivariantActivation<sf::Identity> && sf::OrthogonalEquivariantActivation<sf::Identity>);
  static_assert(!sf::OrthogonalEquivariantActivation<sf::ReLU> && !sf::GeneralLinearEquivariantActivation<sf::ReLU>);
  static_assert(!sf::ScalingEquivariantActivation<sf::Radial<InverseQuadratic>>);
  const Relu net;
  const auto s = sf::symmetry<2>(net);
  CHECK(s.hidden() == 5);
  CHECK(s.degree() == 1.0);
  CHECK(sf::ScalingAction(sf::Mlp<double, sf::Homogeneous, 3, 4, 2>(sf::Homogeneous{2.5})).degree() == 2.5);
  CHECK(s.algebra().dimension() == 5);
}

TEST_CASE("the generators are the blocks of eqs. 13 and 18", "[group][generator]") {
  // Homogeneous of degree α: M̄θ = (diag(m) V, −α U diag(m)) for θ = (V, U), nothing else.
  using Net = sf::Mlp<double, sf::Homogeneous, 3, 4, 2>;
  const Net net(sf::Homogeneous{2.5});
  const sf::ScalingAction action(net);
  auto rng = rng_for(0);
  const Net::Params theta = sf::random_params(net, rng);
  const Eigen::Vector4d m = action.algebra().random(rng);
  const Net::Params xi = action.generator(m, theta);
  CHECK(st::relative_error(net.weight<1>(xi), (m.asDiagonal() * net.weight<1>(theta)).eval()) <= 1e-15);
  CHECK(st::relative_error(net.weight<2>(xi), (-2.5 * net.weight<2>(theta) * m.asDiagonal()).eval()) <= 1e-15);
  CHECK(action.pi(Eigen::Vector4d::Constant(2.0)).isApprox(Eigen::Vector4d::Constant(std::pow(2.0, 2.5))));
  CHECK(action.dpi(m) == 2.5 * m);
  // In a deeper biased net, layer 2's generator touches W_2's rows, b_2 and W_3's columns only.
  using Deep = sf::BiasedMlp<double, sf::Identity, 3, 4, 5, 2>;
  const Deep deep;
  const sf::GeneralLinearAction<Deep, 2> gl(deep);
  const Deep::Params t = sf::random_params(deep, rng);
  const Eigen::Matrix<double, 5, 5> mm = gl.algebra().random(rng);
  const Deep::Params x = gl.generator(mm, t);
  CHECK(deep.weight<1>(x).norm() == 0.0);
  CHECK(deep.bias<1>(x).norm() == 0.0);
  CHECK(deep.bias<3>(x).norm() == 0.0);
  CHECK(st::relative_error(deep.weight<2>(x), (mm * deep.weight<2>(t)).eval()) <= 1e-15);
  CHECK(st::relative_error(deep.bias<2>(x), (mm * deep.bias<2>(t)).eval()) <= 1e-15);
  CHECK(st::relative_error(deep.weight<3>(x), (-deep.weight<3>(t) * mm).eval()) <= 1e-15);
}

TEMPLATE_TEST_CASE("actions work in float and long double with per-scalar tolerances", "[group][scalar]", float, long double) {
  using Net = sf::BiasedMlp<TestType, sf::LeakyReLU, 3, 5, 2>;
  const Net net(sf::LeakyReLU{0.2});
  const sf::ScalingAction scaling(net);
  using Lin = sf::Mlp<TestType, sf::Identity, 3, 4, 2>;
  const sf::GeneralLinearAction gl{Lin{}};
  const double eps = static_cast<double>(std::numeric_limits<TestType>::epsilon());
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const auto x = sf::random_normal<Eigen::Matrix<TestType, 3, 6>>(3, 6, rng);
    const typename Net::Params theta = sf::random_params(net, rng);
    const auto g = scaling.exp(scaling.algebra().random(rng));
    CHECK(st::output_invariance_error(net, scaling, g, theta, x) <= 1e3 * eps);
    const typename Lin::Params t = sf::random_params(Lin{}, rng);
    const auto h = gl.exp(gl.algebra().random(rng, 0.5));
    CHECK(st::output_invariance_error(Lin{}, gl, h, t, x) <= 1e3 * eps);
  }
}

TEST_CASE("invalid group elements and shapes are rejected with the values seen", "[group][errors]") {
  using Net = sf::Mlp<double, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const Net net({3, 4, 2});
  const sf::ScalingAction scaling(net);
  const Net::Params theta = Net::Params::Ones(net.size());
  Eigen::VectorXd c = Eigen::VectorXd::Ones(4);
  c[2] = -0.5;
  CHECK_THROWS_WITH(scaling.act(c, theta), Catch::Contains("c_2 = -0.5") && Catch::Contains("positive"));
  CHECK_THROWS_WITH(scaling.act(Eigen::VectorXd::Ones(5), theta), Catch::Contains("has length 5, expected 4"));
  CHECK_THROWS_WITH(scaling.act(Eigen::VectorXd::Ones(4), Eigen::VectorXd::Ones(3)), Catch::Contains("has length 3, expected 20"));
  using Lin = sf::Mlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  const sf::GeneralLinearAction gl(Lin({3, 4, 2}));
  Eigen::MatrixXd singular = Eigen::MatrixXd::Identity(4, 4);
  singular(3, 3) = 0.0;
  CHECK_THROWS_WITH(gl.act(singular, theta), Catch::Contains("singular"));
  CHECK_THROWS_WITH(gl.generator(Eigen::MatrixXd::Ones(3, 3), theta), Catch::Contains("has shape 3x3, expected 4x4"));
  CHECK_THROWS_WITH(Net({3, 0, 2}), Catch::Contains("width 1 is 0"));
}
