// Specification of the linear actions on one hidden layer: each is a group action (identity,
// composition, inverse), a symmetry of the loss and of the network function near and far from the
// identity, its generator is its derivative and is orthogonal to the gradient (Prop. 1), and
// gradients transform by the law of Prop. 10 (eq. 19). Every property over 100 random seeds.
#include "group_support.hpp"

#include <algorithm>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::test::scaled_random;
using sf::test::InverseQuadratic;
using sf::test::CubedReLU;
using sf::test::SoftNormalize;

namespace {

constexpr int kTrials = 100;

// Every property a linear hidden-layer symmetry must have, over kTrials random seeds, for g near
// the identity (exp of an algebra element of norm 1e-3) and far from it (norm 3).
template <class Action, class Model>
void check_linear_symmetry(const Model& net, double invariance_tol = 1e-12) {
  const Action action(net);
  const sf::Index k = 7;
  double worst_loss = 0, worst_output = 0, worst_axiom = 0, worst_law = 0, worst_derivative = 0, worst_orth = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    using X = Eigen::Matrix<double, Model::input_width, Eigen::Dynamic>;
    using Y = Eigen::Matrix<double, Model::output_width, Eigen::Dynamic>;
    const X x = sf::random_normal<X>(net.input_size(), k, rng);
    const Y y = sf::random_normal<Y>(net.output_size(), k, rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Model::Params theta = sf::random_params(net, rng);
    INFO("trial " << trial);
    for (const double norm : {1e-3, 3.0}) {
      const auto g1 = action.exp(scaled_random(action, rng, norm));
      const auto g2 = action.exp(scaled_random(action, rng, norm));
      worst_loss = std::max(worst_loss, st::invariance_error(objective, action, g1, theta));
      worst_output = std::max(worst_output, st::output_invariance_error(net, action, g1, theta, x));
      worst_axiom = std::max({worst_axiom, st::composition_axiom_error(action, g2, g1, theta),
                              st::inverse_axiom_error(action, g1, theta)});
      worst_law = std::max(worst_law, st::gradient_transformation_error(objective, action, g1, theta));
    }
    CHECK(st::identity_axiom_error(action, theta) == 0.0);
    worst_derivative = std::max(worst_derivative, st::generator_derivative_error(action, action.algebra().random(rng), theta));
    worst_orth = std::max(worst_orth, st::max_gradient_orthogonality(objective, action, theta));
  }
  CAPTURE(worst_loss, worst_output, worst_axiom, worst_law, worst_derivative, worst_orth);
  CHECK(worst_loss <= invariance_tol);    // L(g·θ) = L(θ)
  CHECK(worst_output <= invariance_tol);  // F_{g·θ}(X) = F_θ(X)
  CHECK(worst_axiom <= 1e-12);            // g₂·(g₁·θ) = (g₂g₁)·θ and g⁻¹·(g·θ) = θ
  CHECK(worst_law <= invariance_tol);     // gᵀ·∇L(g·θ) = ∇L(θ)
  CHECK(worst_derivative <= 1e-8);        // M̄θ = d/dt exp(tM)·θ
  CHECK(worst_orth <= 1e-12);             // ⟨∇L(θ), M̄θ⟩ = 0 for every basis element
}

}  // namespace

TEST_CASE("GL_h is a symmetry of linear hidden layers", "[group][general-linear]") {
  SECTION("two-layer, fixed") { check_linear_symmetry<sf::GeneralLinearAction<sf::TwoLayer<double, sf::Identity, 4, 6, 3>>>(sf::TwoLayer<double, sf::Identity, 4, 6, 3>{}); }
  SECTION("two-layer, h < n, m, dynamic") {
    using Net = sf::Mlp<double, sf::Identity, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    check_linear_symmetry<sf::GeneralLinearAction<Net>>(Net({5, 3, 4}));
  }
  SECTION("biased, three layers, each hidden layer") {
    using Net = sf::BiasedMlp<double, sf::Identity, 3, 5, 4, 2>;
    check_linear_symmetry<sf::GeneralLinearAction<Net, 1>>(Net{});
    check_linear_symmetry<sf::GeneralLinearAction<Net, 2>>(Net{});
  }
}

TEST_CASE("positive scaling is a symmetry of positively homogeneous hidden layers", "[group][scaling]") {
  SECTION("relu") { check_linear_symmetry<sf::ScalingAction<sf::Mlp<double, sf::ReLU, 4, 6, 3>>>(sf::Mlp<double, sf::ReLU, 4, 6, 3>{}); }
  SECTION("leaky relu, biased, deep, each hidden layer") {
    using Net = sf::BiasedMlp<double, sf::LeakyReLU, 3, 5, 4, 2>;
    const Net net(sf::LeakyReLU{0.1});
    check_linear_symmetry<sf::ScalingAction<Net, 1>>(net);
    check_linear_symmetry<sf::ScalingAction<Net, 2>>(net);
  }
  SECTION("homogeneous of degree 2 and 1.5, dynamic") {
    using Net = sf::BiasedMlp<double, sf::Homogeneous, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    check_linear_symmetry<sf::ScalingAction<Net>>(Net({4, 6, 3}, sf::Homogeneous{2.0}));
    check_linear_symmetry<sf::ScalingAction<Net>>(Net({4, 6, 3}, sf::Homogeneous{1.5}));
  }
  SECTION("a user activation declared ScalingEquivariant") {
    check_linear_symmetry<sf::ScalingAction<sf::Mlp<double, CubedReLU, 3, 5, 2>>>(sf::Mlp<double, CubedReLU, 3, 5, 2>{});
  }
  SECTION("a linear layer admits the scaling subgroup with α = 1") {
    check_linear_symmetry<sf::ScalingAction<sf::Mlp<double, sf::Identity, 3, 5, 2>>>(sf::Mlp<double, sf::Identity, 3, 5, 2>{});
  }
}

TEST_CASE("O(h) is a symmetry of radial hidden layers", "[group][orthogonal]") {
  SECTION("radial, biased") {
    using Net = sf::BiasedMlp<double, sf::Radial<InverseQuadratic>, 4, 6, 3>;
    check_linear_symmetry<sf::OrthogonalAction<Net>>(Net{});
  }
  SECTION("radial, deep, dynamic, second hidden layer") {
    using Net = sf::Mlp<double, sf::Radial<InverseQuadratic>, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    check_linear_symmetry<sf::OrthogonalAction<Net, 2>>(Net({3, 4, 5, 2}));
  }
  SECTION("a user column activation declared OrthogonalEquivariant") {
    check_linear_symmetry<sf::OrthogonalAction<sf::Mlp<double, SoftNormalize, 3, 5, 2>>>(sf::Mlp<double, SoftNormalize, 3, 5, 2>{});
  }
  SECTION("a linear layer admits the orthogonal subgroup") {
    check_linear_symmetry<sf::OrthogonalAction<sf::Mlp<double, sf::Identity, 3, 5, 2>>>(sf::Mlp<double, sf::Identity, 3, 5, 2>{});
  }
}

