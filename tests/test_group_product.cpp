// Specification of the product action over all hidden layers at once (§B.5, eqs. 17–18): it is the
// composition of the commuting per-layer actions, g·W_i = g_i W_i π(g_{i−1})⁻¹, its generator is the
// sum of theirs, and it is a symmetry with every property a single-layer symmetry has. Over 100
// random seeds, near the identity and far from it.
#include "group_support.hpp"

#include <algorithm>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::InverseQuadratic;
using sf::test::rng_for;

namespace {

constexpr int kTrials = 100;

template <class Model>
void check_product_symmetry(const Model& net) {
  const auto action = sf::product_symmetry(net);
  double worst_loss = 0, worst_output = 0, worst_axiom = 0, worst_law = 0, worst_derivative = 0, worst_orth = 0;
  double worst_sum = 0, worst_sequential = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::MatrixXd x = sf::random_normal<Eigen::MatrixXd>(net.input_size(), 6, rng);
    const Eigen::MatrixXd y = sf::random_normal<Eigen::MatrixXd>(net.output_size(), 6, rng);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Model::Params theta = sf::random_params(net, rng);
    for (const double norm : {1e-3, 3.0}) {
      const auto g1 = action.exp(sf::test::random_with_coordinate_norm(action, rng, norm));
      const auto g2 = action.exp(sf::test::random_with_coordinate_norm(action, rng, norm));
      worst_loss = std::max(worst_loss, st::invariance_error(objective, action, g1, theta));
      worst_output = std::max(worst_output, st::output_invariance_error(net, action, g1, theta, x));
      worst_axiom = std::max({worst_axiom, st::composition_axiom_error(action, g2, g1, theta),
                              st::inverse_axiom_error(action, g1, theta), st::identity_axiom_error(action, theta)});
      worst_law = std::max(worst_law, st::gradient_transformation_error(objective, action, g1, theta));
      // The product is the per-layer actions applied one after the other, in either order.
      typename Model::Params forward = theta, backward = theta;
      action.template factor<0>().apply_inplace(std::get<0>(g1), forward);
      action.template factor<Model::depth - 2>().apply_inplace(std::get<Model::depth - 2>(g1), backward);
      action.template factor<Model::depth - 2>().apply_inplace(std::get<Model::depth - 2>(g1), forward);
      action.template factor<0>().apply_inplace(std::get<0>(g1), backward);
      if constexpr (Model::depth == 3) {
        worst_sequential = std::max({worst_sequential, st::relative_error(forward, action.act(g1, theta)),
                                     st::relative_error(backward, action.act(g1, theta))});
      }
    }
    const auto m = action.algebra().random(rng);
    worst_derivative = std::max(worst_derivative, st::generator_derivative_error(action, m, theta));
    worst_orth = std::max(worst_orth, st::max_gradient_orthogonality(objective, action, theta));
    // Eq. (18): M̄θ = Σ_i (M_i)‾θ.
    typename Model::Params sum = net.zero_params();
    sum += action.template factor<0>().generator(std::get<0>(m), theta);
    if constexpr (Model::depth >= 3) sum += action.template factor<1>().generator(std::get<1>(m), theta);
    if constexpr (Model::depth >= 4) sum += action.template factor<2>().generator(std::get<2>(m), theta);
    worst_sum = std::max(worst_sum, st::relative_error(action.generator(m, theta), sum));
  }
  CAPTURE(worst_loss, worst_output, worst_axiom, worst_law, worst_derivative, worst_orth, worst_sum, worst_sequential);
  CHECK(worst_loss <= 1e-12);
  CHECK(worst_output <= 1e-12);
  CHECK(worst_axiom <= 1e-12);
  CHECK(worst_law <= 1e-12);
  CHECK(worst_derivative <= 1e-8);
  CHECK(worst_orth <= 1e-12);
  CHECK(worst_sum <= 1e-15);
  CHECK(worst_sequential <= 1e-15);
}

}  // namespace

TEST_CASE("the product over all hidden layers is a symmetry (eq. 17)", "[group][product]") {
  SECTION("linear, GL_4 × GL_5") { check_product_symmetry(sf::Mlp<double, sf::Identity, 3, 4, 5, 2>{}); }
  SECTION("leaky relu, biased, three hidden layers") {
    check_product_symmetry(sf::BiasedMlp<double, sf::LeakyReLU, 3, 5, 4, 4, 2>(sf::LeakyReLU{0.1}));
  }
  SECTION("homogeneous of degree 2, dynamic") {
    using Net = sf::BiasedMlp<double, sf::Homogeneous, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
    check_product_symmetry(Net({4, 5, 3, 2}, sf::Homogeneous{2.0}));
  }
  SECTION("radial, O(4) × O(5)") { check_product_symmetry(sf::Mlp<double, sf::Radial<InverseQuadratic>, 3, 4, 5, 2>{}); }
}

TEST_CASE("the product action on a middle layer is g_i W_i π(g_{i−1})⁻¹ (eq. 17)", "[group][product]") {
  using Net = sf::BiasedMlp<double, sf::Homogeneous, 3, 4, 5, 2>;
  const Net net(sf::Homogeneous{1.5});
  const auto action = sf::product_symmetry(net);
  static_assert(std::is_same_v<std::remove_const_t<decltype(action)>,
                               sf::ProductAction<sf::ScalingAction<Net, 1>, sf::ScalingAction<Net, 2>>>);
  CHECK(action.algebra().dimension() == 4 + 5);
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Net::Params theta = sf::random_params(net, rng);
    const auto m = action.algebra().random(rng);
    const auto g = action.exp(m);
    const Eigen::Vector4d c1 = std::get<0>(g);
    const Eigen::Matrix<double, 5, 1> c2 = std::get<1>(g);
    const Net::Params moved = action.act(g, theta);
    const Eigen::Matrix<double, 5, 4> w2 =
        c2.asDiagonal() * net.weight<2>(theta) * c1.array().pow(-1.5).matrix().asDiagonal();
    CHECK(st::relative_error(net.weight<2>(moved), w2) <= 1e-15);
    CHECK(st::relative_error(net.bias<2>(moved), c2.cwiseProduct(net.bias<2>(theta)).eval()) <= 1e-15);
    CHECK(net.bias<3>(moved) == net.bias<3>(theta));  // the output bias never transforms
    // Eq. (18) on the middle layer: M_2 W_2 − W_2 dπ(M_1), dπ(M_1) = 1.5 M_1.
    const Net::Params xi = action.generator(m, theta);
    const Eigen::Matrix<double, 5, 4> expected = std::get<1>(m).asDiagonal() * net.weight<2>(theta) -
                                                 1.5 * net.weight<2>(theta) * std::get<0>(m).asDiagonal();
    CHECK(st::relative_error(net.weight<2>(xi), expected) <= 1e-14);
  }
  // The basis runs through the first factor's basis, then the second's.
  const auto e5 = action.algebra().basis(5);
  CHECK(std::get<0>(e5).norm() == 0.0);
  CHECK(std::get<1>(e5)[1] == 1.0);
  CHECK_THROWS_AS(action.algebra().basis(9), std::out_of_range);
}
