// Specification of the orbit and critical-point analyses (§B.6): the orbit dimension is the numerical
// rank of M ↦ M̄θ; at a generic point of a two-layer block it follows the closed forms of
// symflow::generic_orbit_dimension, which agree with the paper's eq. (20) everywhere and with
// eqs. (21)–(22) only where h ≤ max(m, n) (docs/errata.md); gradients transform by Prop. 10 and
// critical points map to critical points (Cor. 11).
#include "group_support.hpp"

#include <symflow/analysis/critical_points.hpp>
#include <symflow/analysis/orbit.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <array>
#include <functional>
#include <vector>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::InverseQuadratic;
using sf::test::rng_for;

namespace {

constexpr int kTrials = 100;

// The paper's Example 6, as printed.
sf::Index paper_eq20(sf::Index m, sf::Index h, sf::Index n) {
  return h * h - std::max<sf::Index>(0, h - n) * std::max<sf::Index>(0, h - m);
}
sf::Index paper_eq21(sf::Index m, sf::Index h, sf::Index n) { return std::min(h, std::max(n, m)); }
sf::Index paper_eq22(sf::Index m, sf::Index h, sf::Index n) {
  const auto pairs = [](sf::Index a) { return a * (a - 1) / 2; };
  return h <= std::max(m, n) ? pairs(h) : pairs(h) - pairs(h - std::max(m, n));
}

using LinearNet = sf::Mlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
using ReluNet = sf::Mlp<double, sf::ReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
using RadialNet = sf::Mlp<double, sf::Radial<InverseQuadratic>, sf::Dynamic, sf::Dynamic, sf::Dynamic>;

// The numerical orbit dimension at a random (generic) point of the (n → h → m) block, checking that
// the rank is clearly separated: the singular values it drops are at rounding level.
template <class Net>
sf::Index measured_orbit_dimension(sf::Index m, sf::Index h, sf::Index n, std::mt19937_64& rng) {
  const Net net({n, h, m});
  const auto action = sf::symmetry<1>(net);
  const auto orbit = sf::orbit_dimension(action, sf::random_params(net, rng));
  CHECK(orbit.algebra_dimension == action.algebra().dimension());
  CHECK(orbit.gap() >= 1e8);
  return orbit.dimension;
}

}  // namespace

TEST_CASE("orbit dimensions of a generic two-layer block, against the paper's eqs. 20-22", "[group][orbit]") {
  int shapes = 0, eq21_wrong = 0, eq22_wrong = 0;
  for (sf::Index m = 1; m <= 5; ++m)
    for (sf::Index n = 1; n <= 5; ++n)
      for (sf::Index h = 1; h <= 10; ++h) {
        auto rng = rng_for(shapes++);
        INFO("(m, h, n) = (" << m << ", " << h << ", " << n << ")");
        const sf::Index linear = measured_orbit_dimension<LinearNet>(m, h, n, rng);
        const sf::Index scaling = measured_orbit_dimension<ReluNet>(m, h, n, rng);
        const sf::Index radial = measured_orbit_dimension<RadialNet>(m, h, n, rng);
        CHECK(linear == sf::generic_orbit_dimension<sf::GeneralLinearEquivariant>(m, h, n));
        CHECK(scaling == sf::generic_orbit_dimension<sf::ScalingEquivariant>(m, h, n));
        CHECK(radial == sf::generic_orbit_dimension<sf::OrthogonalEquivariant>(m, h, n));
        // Eq. (20) is right everywhere; eqs. (21) and (22) exactly where h ≤ max(m, n) (and, for
        // (22), where C(h − max(m, n), 2) happens to equal C((h − m − n)₊, 2)).
        CHECK(linear == paper_eq20(m, h, n));
        const bool narrow = h <= std::max(m, n);
        CHECK((scaling == paper_eq21(m, h, n)) == narrow);
        const auto pairs = [](sf::Index a) { return a * (a - 1) / 2; };
        const bool eq22_coincides = narrow || pairs(h - std::max(m, n)) == pairs(std::max<sf::Index>(0, h - m - n));
        CHECK((radial == paper_eq22(m, h, n)) == eq22_coincides);
        eq21_wrong += scaling != paper_eq21(m, h, n);
        eq22_wrong += radial != paper_eq22(m, h, n);
      }
  CAPTURE(shapes, eq21_wrong, eq22_wrong);
  CHECK(shapes == 250);
  CHECK(eq21_wrong == 155);  // every shape with h > max(m, n): Σ_k (2k − 1)(10 − k), k = max(m, n)
  CHECK(eq22_wrong > 100);
}

TEST_CASE("orbit dimensions over 100 seeds at shapes with h larger than m and n, with biases", "[group][orbit]") {
  using BiasedLinear = sf::BiasedMlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  using BiasedLeaky = sf::BiasedMlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  using BiasedRadial = sf::BiasedMlp<double, sf::Radial<InverseQuadratic>, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    // (m, h, n) = (2, 9, 3): eq. (21) would say 3 and eq. (22) 36 − 15 = 21.
    CHECK(measured_orbit_dimension<LinearNet>(2, 9, 3, rng) == 81 - 7 * 6);
    CHECK(measured_orbit_dimension<ReluNet>(2, 9, 3, rng) == 9);
    CHECK(measured_orbit_dimension<RadialNet>(2, 9, 3, rng) == 36 - 6);
    // A hidden bias b joins V as one more input column: n → n + 1.
    CHECK(measured_orbit_dimension<BiasedLinear>(2, 9, 3, rng) == sf::generic_orbit_dimension<sf::GeneralLinearEquivariant>(2, 9, 4));
    CHECK(measured_orbit_dimension<BiasedLeaky>(2, 9, 3, rng) == 9);
    CHECK(measured_orbit_dimension<BiasedRadial>(2, 9, 3, rng) == sf::generic_orbit_dimension<sf::OrthogonalEquivariant>(2, 9, 4));
  }
}

TEST_CASE("the orbit shrinks at non-generic points, and deep products are full where widths decrease", "[group][orbit]") {
  auto rng = rng_for(0);
  // A dead unit (column k of U and row k of V both zero) is fixed by its own scaling.
  const ReluNet relu({3, 6, 2});
  ReluNet::Params theta = sf::random_params(relu, rng);
  relu.weight<1>(theta).row(4).setZero();
  relu.weight<2>(theta).col(4).setZero();
  const auto orbit = sf::orbit_dimension(sf::symmetry<1>(relu), theta);
  CHECK(orbit.dimension == 5);
  CHECK(orbit.stabilizer_dimension() == 1);
  CHECK(orbit.singular_values[5] <= 1e-15 * orbit.singular_values[0]);
  // A rank-one V in a linear block: the kernel of M ↦ (−UM, MV) grows to (h − m)₊ (h − 1).
  const LinearNet linear({4, 5, 2});
  LinearNet::Params t = sf::random_params(linear, rng);
  linear.weight<1>(t) = sf::random_normal<Eigen::MatrixXd>(5, 1, rng) * sf::random_normal<Eigen::MatrixXd>(1, 4, rng);
  CHECK(sf::orbit_dimension(sf::symmetry<1>(linear), t).dimension == 25 - 3 * 4);
  // Deep linear net with n_0 ≥ h_1 ≥ h_2: M_1 W_1 = 0 forces M_1 = 0, then M_2 W_2 = 0 forces M_2 = 0.
  for (int trial = 0; trial < kTrials; ++trial) {
    auto r = rng_for(trial);
    using Deep = sf::Mlp<double, sf::Identity, 6, 5, 4, 2>;
    const Deep deep;
    CHECK(sf::orbit_dimension(sf::product_symmetry(deep), sf::random_params(deep, r)).dimension == 25 + 16);
    using DeepRelu = sf::BiasedMlp<double, sf::ReLU, 3, 5, 7, 2>;
    const DeepRelu deep_relu;
    CHECK(sf::orbit_dimension(sf::product_symmetry(deep_relu), sf::random_params(deep_relu, r)).dimension == 12);
  }
  // The tolerance is stated and can be set.
  const auto loose = sf::orbit_dimension(sf::symmetry<1>(relu), theta, 0.5);
  CHECK(loose.relative_tolerance == 0.5);
  CHECK(loose.threshold == 0.5 * loose.singular_values[0]);
}

TEST_CASE("orbit singular values: the closed form of the general linear orbit, and JacobiSVD", "[group][orbit]") {
  // For the GL_h action on a linear block, M ↦ (MV, −UM) over the orthonormal basis E_ab has
  // TᵀT = (M ↦ UᵀU M + M VVᵀ), a Kronecker sum: its eigenvalues are α_i + β_j (α of UᵀU, β of VVᵀ),
  // so the singular values of T are √(α_i + β_j), the largest min(d, h²) of them (the others vanish).
  double worst_closed = 0, worst_jacobi = 0;
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    using Triple = std::array<sf::Index, 3>;
    for (const auto& [m, h, n] : std::array<Triple, 4>{{{3, 8, 4}, {2, 3, 5}, {1, 6, 1}, {4, 4, 4}}}) {
      const LinearNet net({n, h, m});
      const auto theta = sf::random_params(net, rng);
      const auto orbit = sf::orbit_dimension(sf::symmetry<1>(net), theta);
      const Eigen::MatrixXd v = net.weight<1>(theta), u = net.weight<2>(theta);
      // α and β as squared singular values of U and V, padded with the exact zeros of rank deficiency.
      Eigen::VectorXd su = Eigen::VectorXd::Zero(h), sv = Eigen::VectorXd::Zero(h);
      su.head(std::min(m, h)) = Eigen::JacobiSVD<Eigen::MatrixXd>(u).singularValues();
      sv.head(std::min(n, h)) = Eigen::JacobiSVD<Eigen::MatrixXd>(v).singularValues();
      std::vector<double> closed;
      for (sf::Index i = 0; i < h; ++i)
        for (sf::Index j = 0; j < h; ++j) closed.push_back(std::hypot(su[i], sv[j]));
      std::sort(closed.begin(), closed.end(), std::greater<>());
      REQUIRE(orbit.singular_values.size() == std::min(h * (n + m), h * h));
      for (sf::Index i = 0; i < orbit.singular_values.size(); ++i)
        worst_closed = std::max(worst_closed, std::abs(orbit.singular_values[i] - closed[static_cast<std::size_t>(i)]) /
                                                  orbit.singular_values[0]);
    }
    // Random matrices, tall, wide and of deficient rank, against Eigen's one-sided Jacobi SVD.
    for (const auto& [rows, cols, rank] :
         std::array<Triple, 7>{{{1, 1, 1}, {1, 7, 1}, {7, 1, 1}, {30, 12, 12}, {12, 30, 5}, {20, 20, 13}, {9, 40, 0}}}) {
      const Eigen::MatrixXd a = sf::random_normal<Eigen::MatrixXd>(rows, rank, rng) *
                                sf::random_normal<Eigen::MatrixXd>(rank, cols, rng);
      const Eigen::VectorXd ours = sf::detail::singular_values(a);
      const Eigen::VectorXd jacobi = Eigen::JacobiSVD<Eigen::MatrixXd>(a).singularValues();
      REQUIRE(ours.size() == jacobi.size());
      const double scale = std::max(jacobi[0], 1e-300);
      worst_jacobi = std::max(worst_jacobi, (ours - jacobi).cwiseAbs().maxCoeff() / scale);
      // The rank the default tolerance max(rows, cols)·ε reads off.
      sf::Index r = 0;
      while (r < ours.size() && ours[r] > static_cast<double>(std::max(rows, cols)) * 2.220446049250313e-16 * ours[0]) ++r;
      CHECK(r == rank);
    }
  }
  // Both errors are relative to σ_max (seen: 9.1e-15 and 7.7e-15, about 40 ε): backward stability
  // promises a small multiple of ε·σ_max, and nothing better for the small singular values.
  CAPTURE(worst_closed, worst_jacobi);
  CHECK(worst_closed <= 5e-14);
  CHECK(worst_jacobi <= 5e-14);
}

TEST_CASE("gradients transform by Prop. 10, for every linear action", "[group][critical]") {
  double worst = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const auto check = [&](const auto& net, const auto& action) {
      const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(net.input_size(), 5, rng);
      const Eigen::MatrixXd y = sf::random_normal<Eigen::MatrixXd>(net.output_size(), 5, rng);
      const sf::Objective objective(net, sf::MeanSquaredError{}, x, y);
      const auto theta = sf::random_params(net, rng);
      const auto g = action.exp(sf::test::random_with_coordinate_norm(action, rng, 2.0));
      const auto predicted = sf::transform_gradient(action, g, objective.gradient(theta));
      worst = std::max(worst, st::relative_error(predicted, objective.gradient(action.act(g, theta))));
    };
    using Lin = sf::BiasedMlp<double, sf::Identity, 3, 4, 2>;
    check(Lin{}, sf::GeneralLinearAction(Lin{}));
    using Leaky = sf::BiasedMlp<double, sf::LeakyReLU, 3, 4, 5, 2>;
    check(Leaky{}, sf::product_symmetry(Leaky{}));
    using Rad = sf::BiasedMlp<double, sf::Radial<InverseQuadratic>, 3, 4, 2>;
    check(Rad{}, sf::OrthogonalAction(Rad{}));
  }
  CAPTURE(worst);
  CHECK(worst <= 1e-12);
}

TEST_CASE("critical points are sent to critical points (Cor. 11)", "[group][critical]") {
  // A saddle by construction. With X = I and Y = Σ_i s_i u_i v_iᵀ (SVD, v_2 = 1/√n), the point
  // V = √s_2 e v_2ᵀ, U = √s_2 u_2 eᵀ (e = 1/√h, all positive) has UV = s_2 u_2 v_2ᵀ, residual
  // Y − UV ⊥ u_2, v_2, hence ∇L = 0 with L = ½ Σ_{i≠2} s_i² > 0. Since VX > 0 entrywise, a ReLU
  // layer is linear near this point, so it is a critical point of the ReLU network too.
  constexpr int n = 4, h = 3, m = 3;
  double worst = 0, least_loss = 1e300, most_negative = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    // Orthonormal u (m×m) and v (n×n) with v.col(1) = 1/√n.
    Eigen::Matrix<double, n, n> basis = sf::random_normal<Eigen::Matrix<double, n, n>>(n, n, rng);
    basis.col(0) = Eigen::Matrix<double, n, 1>::Ones();
    Eigen::Matrix<double, n, n> v = Eigen::HouseholderQR<Eigen::Matrix<double, n, n>>(basis).householderQ();
    v.col(0).swap(v.col(1));
    v.col(1) *= v(0, 1) > 0 ? 1.0 : -1.0;
    const Eigen::Matrix<double, m, m> u = Eigen::HouseholderQR<Eigen::Matrix<double, m, m>>(
                                              sf::random_normal<Eigen::Matrix<double, m, m>>(m, m, rng))
                                              .householderQ();
    const Eigen::Vector3d s(3.0, 2.0, 1.0);
    const Eigen::Matrix<double, m, n> y = u * s.asDiagonal() * v.leftCols<m>().transpose();
    const Eigen::Matrix<double, n, n> x = Eigen::Matrix<double, n, n>::Identity();
    const Eigen::Vector3d e = Eigen::Vector3d::Constant(1.0 / std::sqrt(3.0));

    const auto check = [&](const auto& net, const auto& action, const auto& g) {
      using Net = std::remove_cvref_t<decltype(net)>;
      typename Net::Params theta(net.size());
      net.template weight<1>(theta) = std::sqrt(s[1]) * e * v.col(1).transpose();
      net.template weight<2>(theta) = std::sqrt(s[1]) * u.col(1) * e.transpose();
      const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
      const auto image = sf::map_critical_point(objective, action, g, theta);
      const double scale = y.norm() * image.params.norm();  // ∇L is a residual times weights
      worst = std::max({worst, image.source_gradient_norm / scale, image.gradient_norm / scale});
      least_loss = std::min(least_loss, objective.value(image.params));
      return objective;
    };
    using Lin = sf::TwoLayer<double, sf::Identity, n, h, m>;
    const sf::GeneralLinearAction gl{Lin{}};
    const auto lin_objective = check(Lin{}, gl, gl.exp(sf::test::scaled_random(gl, rng, 3.0)));
    const sf::OrthogonalAction orth{Lin{}};
    check(Lin{}, orth, orth.exp(orth.algebra().random(rng)));
    using Relu = sf::TwoLayer<double, sf::ReLU, n, h, m>;
    const sf::ScalingAction scaling{Relu{}};
    check(Relu{}, scaling, scaling.exp(sf::test::scaled_random(scaling, rng, 3.0)));
    if (trial == 0) {
      // It is a saddle, not a minimum: the Hessian has a negative eigenvalue.
      typename Lin::Params theta(Lin{}.size());
      Lin{}.weight<1>(theta) = std::sqrt(s[1]) * e * v.col(1).transpose();
      Lin{}.weight<2>(theta) = std::sqrt(s[1]) * u.col(1) * e.transpose();
      most_negative = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(lin_objective.hessian(theta)).eigenvalues()[0];
    }
  }
  CAPTURE(worst, least_loss, most_negative);
  CHECK(worst <= 1e-14);
  CHECK(least_loss >= 0.5 * (9.0 + 1.0) * (1 - 1e-12));  // ½(s_1² + s_3²): not a global minimum
  CHECK(most_negative < -0.1);
}
