// Specification of models composed at run time (symflow::RuntimeSequential) and of their junctions
// (symflow::RuntimeJunction): the same θ layout, outputs, gradients and Hessian-vector products as
// the compile-time Sequential with the same layers, the junction kinds of conserved<I>, the same
// quantities and actions as the compile-time classes, every action a symmetry of the loss, and
// errors that name the layer.
#include <symflow/conserved/runtime_elementwise_quantity.hpp>
#include <symflow/junction.hpp>
#include <symflow/junction/runtime_junction.hpp>
#include <symflow/model/runtime_loss.hpp>
#include <symflow/model/runtime_sequential.hpp>

#include "support.hpp"

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::Dense;
using sf::Dynamic;
using sf::Index;
using sf::Input;
using sf::JunctionKind;
using sf::WithBias;

namespace {

using Runtime = sf::RuntimeSequential<double>;

// Dense junctions: 1 rescale (α = 2), 3 linear (GL), 5 batch-norm scale, 8 layer-norm scale and
// translation, 11 softmax head translation.
using DenseNet = sf::Sequential<double, Input<4>, Dense<5, WithBias>, sf::Homogeneous, Dense<6, WithBias>, sf::Identity,
                                Dense<5>, sf::BatchNorm, sf::Sigmoid, Dense<6, WithBias>, sf::LayerNorm, sf::LeakyReLU,
                                Dense<3, WithBias>>;
DenseNet dense_net() {
  return DenseNet(Dense<5, WithBias>{}, sf::Homogeneous{2.0}, Dense<6, WithBias>{}, sf::Identity{}, Dense<5>{},
                  sf::BatchNorm{}, sf::Sigmoid{}, Dense<6, WithBias>{}, sf::LayerNorm{}, sf::LeakyReLU{0.2},
                  Dense<3, WithBias>{});
}
Runtime dense_runtime() {
  return Runtime(sf::Shape{4}, {sf::DenseWithBiasLayer{5}, sf::Homogeneous{2.0}, sf::DenseWithBiasLayer{6}, sf::Identity{},
                                sf::DenseLayer{5}, sf::BatchNorm{}, sf::Sigmoid{}, sf::DenseWithBiasLayer{6},
                                sf::LayerNorm{}, sf::LeakyReLU{0.2}, sf::DenseWithBiasLayer{3}});
}

// Convolution junctions: 1 rescale conv → conv (stride 2), 3 GL conv → conv, 5 batch-norm scale per
// channel; a LayerNorm with ε > 0 and tanh between the last two layers.
using ConvNet = sf::Sequential<double, Input<2, 6, 5>, sf::Conv2d<3, 3, 1, 1>, sf::ReLU, sf::Conv2d<4, 3, 2, 1, sf::NoBias>,
                               sf::Identity, sf::Conv2d<3, 2>, sf::BatchNorm, sf::LayerNorm, sf::Tanh, Dense<4, WithBias>>;
ConvNet conv_net() {
  return ConvNet(sf::Conv2d<3, 3, 1, 1>{}, sf::ReLU{}, sf::Conv2d<4, 3, 2, 1, sf::NoBias>{}, sf::Identity{},
                 sf::Conv2d<3, 2>{}, sf::BatchNorm{}, sf::LayerNorm{1e-5}, sf::Tanh{}, Dense<4, WithBias>{});
}
Runtime conv_runtime() {
  return Runtime(sf::Shape{2, 6, 5}, {sf::Conv2dLayer{3, 3, 1, 1}, sf::ReLU{}, sf::Conv2dNoBiasLayer{4, 3, 2, 1},
                                      sf::Identity{}, sf::Conv2dLayer{3, 2, 1, 0}, sf::BatchNorm{}, sf::LayerNorm{1e-5},
                                      sf::Tanh{}, sf::DenseWithBiasLayer{4}});
}

struct Batch {
  Eigen::MatrixXd x, y;
  Eigen::VectorXd theta;
};
Batch batch(Index inputs, Index outputs, Index d, int trial) {
  auto rng = rng_for(trial);
  Batch b{sf::random_normal<Eigen::MatrixXd>(inputs, 7, rng), sf::test::one_hot<Eigen::MatrixXd>(rng, outputs, 7), {}};
  b.theta = sf::random_normal<Eigen::VectorXd>(d, 1, rng, 0.6);
  return b;
}

/// The run-time model computes what the compile-time one does, on the same θ: bit for bit where the
/// compile-time model has Dynamic extents too (the same layer code on the same matrix types), to
/// rounding where it has fixed ones (Eigen sums small fixed-size products in another order).
template <class Net>
void check_same_model(const Net& net, const Runtime& runtime, double tolerance) {
  REQUIRE(runtime.layer_count() == Net::num_layers);
  REQUIRE(runtime.size() == net.size());
  for (Index i = 1; i <= runtime.layer_count(); ++i) CHECK(runtime.offset(i) == net.offset(static_cast<int>(i)));
  CHECK(runtime.output_shape() == net.output_shape());
  for (int trial = 0; trial < 3; ++trial) {
    const Batch b = batch(net.input_size(), net.output_size(), net.size(), trial);
    const sf::Objective compiled(net, sf::SoftmaxCrossEntropy{}, b.x, b.y);
    const sf::Objective dynamic(runtime, sf::RuntimeLoss("softmax_cross_entropy"), b.x, b.y);
    const Eigen::VectorXd v = b.theta.reverse();
    const double errors[] = {
        st::relative_error(dynamic.output(b.theta), compiled.output(b.theta)),
        st::relative_error(dynamic.value(b.theta), compiled.value(b.theta)),
        st::relative_error(dynamic.gradient(b.theta), compiled.gradient(b.theta)),
        st::relative_error(dynamic.input_gradient(b.theta), compiled.input_gradient(b.theta)),
        st::relative_error(dynamic.hessian_vector_product(b.theta, v), compiled.hessian_vector_product(b.theta, v))};
    for (double e : errors) {
      INFO("relative errors of F, L, ∇L, ∂L/∂X, Hv: " << errors[0] << ", " << errors[1] << ", " << errors[2] << ", "
                                                      << errors[3] << ", " << errors[4]);
      CHECK(e <= tolerance);
    }
  }
}

/// The run-time junction at layer I has the compile-time quantity's value and action's act and generator.
template <class Quantity, class Action, int I, class Net>
void check_same_junction(const Net& net, const Runtime& runtime, JunctionKind kind) {
  const sf::RuntimeLoss loss{sf::SoftmaxCrossEntropy{}};
  const sf::RuntimeJunction<double> junction(runtime, I, kind, &loss);
  const Quantity q(net);
  const Action action(net);
  auto rng = rng_for(I);
  const Eigen::VectorXd theta = sf::random_normal<Eigen::VectorXd>(net.size(), 1, rng, 0.6);
  const auto m = sf::random_normal<typename Action::Algebra>(junction.rows(), junction.cols(), rng, 0.5);
  const auto g = action.exp(m);
  INFO(junction.name() << " at layer " << I);
  CHECK(st::relative_error(junction.value(theta), q.value(theta)) <= 1e-15);
  CHECK(st::relative_error(junction.act(g, theta), action.act(g, theta)) <= 1e-15);
  CHECK(st::relative_error(junction.generator(m, theta), action.generator(m, theta)) <= 1e-15);
  CHECK(st::relative_error(junction.exp(m), g) <= 1e-15);
}

/// Loss invariance, generators as derivatives of the action and orthogonal to ∇L, the axioms, and
/// Q(θ − η∇L) − Q(θ) = gd_step_change.
void check_symmetry(const Runtime& net, Index i, JunctionKind kind) {
  const sf::RuntimeLoss loss{sf::SoftmaxCrossEntropy{}};
  const sf::RuntimeJunction<double> junction(net, i, kind, &loss);
  INFO(junction.name() << " at layer " << i);
  for (int trial = 0; trial < 3; ++trial) {
    const Batch b = batch(net.input_size(), net.output_size(), net.size(), trial);
    const sf::Objective objective(net, loss, b.x, b.y);
    auto rng = rng_for(100 + trial);
    const auto random_element = [&](double s) {
      return sf::random_normal<Eigen::MatrixXd>(junction.rows(), junction.cols(), rng, s);
    };
    const Eigen::MatrixXd g = junction.exp(random_element(0.5)), h = junction.exp(random_element(0.5));
    CHECK(st::invariance_error(objective, junction, g, b.theta) <= 1e-12);
    CHECK(st::generator_derivative_error(junction, random_element(1.0), b.theta) <= 1e-8);
    CHECK(st::max_gradient_orthogonality(objective, junction, b.theta) <= 1e-12);
    CHECK(st::identity_axiom_error(junction, b.theta) == 0.0);
    CHECK(st::composition_axiom_error(junction, g, h, b.theta) <= 1e-13);
    CHECK(st::inverse_axiom_error(junction, g, b.theta) <= 1e-13);
    const Eigen::VectorXd grad = objective.gradient(b.theta);
    const double eta = 0.1;
    const Eigen::MatrixXd change = junction.value(Eigen::VectorXd(b.theta - eta * grad)) - junction.value(b.theta);
    // Relative to Q itself where the change is small: both sides are then rounding of Q's size.
    CHECK(st::relative_error(change, junction.gd_step_change(grad, eta), junction.value(b.theta).norm()) <= 1e-12);
  }
}

}  // namespace

TEST_CASE("RuntimeSequential has Sequential's θ layout and computes the same", "[runtime][model]") {
  check_same_model(dense_net(), dense_runtime(), 1e-14);
  check_same_model(conv_net(), conv_runtime(), 1e-14);
  using DynamicConvNet = sf::Sequential<double, Input<Dynamic, Dynamic, Dynamic>, sf::Conv2dLayer, sf::ReLU,
                                        sf::Conv2dNoBiasLayer, sf::Identity, sf::Conv2dLayer, sf::BatchNorm, sf::LayerNorm,
                                        sf::Tanh, sf::DenseWithBiasLayer>;
  const DynamicConvNet dynamic_conv(sf::Shape{2, 6, 5}, sf::Conv2dLayer{3, 3, 1, 1}, sf::ReLU{},
                                    sf::Conv2dNoBiasLayer{4, 3, 2, 1}, sf::Identity{}, sf::Conv2dLayer{3, 2, 1, 0},
                                    sf::BatchNorm{}, sf::LayerNorm{1e-5}, sf::Tanh{}, sf::DenseWithBiasLayer{4});
  check_same_model(dynamic_conv, conv_runtime(), 0.0);
  // Copies and casts keep the layers.
  const Runtime copy = dense_runtime();
  CHECK(copy.cast<float>().size() == copy.size());
  CHECK(sf::layer_name(copy.spec(2)) == "homogeneous");
}

TEST_CASE("junction_kinds is conserved<I>'s table, and the junctions are the compile-time quantities and actions",
          "[runtime][junction]") {
  const Runtime dense = dense_runtime(), conv = conv_runtime();
  const sf::RuntimeLoss cross_entropy{sf::SoftmaxCrossEntropy{}};
  using K = std::vector<JunctionKind>;
  CHECK(sf::junction_kinds(dense, 1) == K{JunctionKind::rescale});
  CHECK(sf::junction_kinds(dense, 3) == K{JunctionKind::linear_imbalance});
  CHECK(sf::junction_kinds(dense, 5) == K{JunctionKind::scale});
  CHECK(sf::junction_kinds(dense, 8) == K{JunctionKind::scale, JunctionKind::translation});
  CHECK(sf::junction_kinds(dense, 11, &cross_entropy) == K{JunctionKind::translation});
  CHECK(sf::junction_kinds(conv, 1) == K{JunctionKind::rescale});
  CHECK(sf::junction_kinds(conv, 3) == K{JunctionKind::linear_imbalance});
  CHECK(sf::junction_kinds(conv, 5) == K{JunctionKind::scale});

  const DenseNet d = dense_net();
  check_same_junction<sf::RescaleImbalance<DenseNet, 1>, sf::RescaleJunctionAction<DenseNet, 1>, 1>(d, dense, JunctionKind::rescale);
  check_same_junction<sf::LinearImbalance<DenseNet, 3>, sf::LinearJunctionAction<DenseNet, 3>, 3>(d, dense, JunctionKind::linear_imbalance);
  check_same_junction<sf::NormalizedScale<DenseNet, 5>, sf::ScaleJunctionAction<DenseNet, 5>, 5>(d, dense, JunctionKind::scale);
  check_same_junction<sf::NormalizedScale<DenseNet, 8>, sf::ScaleJunctionAction<DenseNet, 8>, 8>(d, dense, JunctionKind::scale);
  check_same_junction<sf::Translation<DenseNet, 8>, sf::TranslationAction<DenseNet, 8>, 8>(d, dense, JunctionKind::translation);
  check_same_junction<sf::Translation<DenseNet, 11>, sf::TranslationAction<DenseNet, 11>, 11>(d, dense, JunctionKind::translation);
  const ConvNet c = conv_net();
  check_same_junction<sf::RescaleImbalance<ConvNet, 1>, sf::RescaleJunctionAction<ConvNet, 1>, 1>(c, conv, JunctionKind::rescale);
  check_same_junction<sf::LinearImbalance<ConvNet, 3>, sf::LinearJunctionAction<ConvNet, 3>, 3>(c, conv, JunctionKind::linear_imbalance);
  check_same_junction<sf::NormalizedScale<ConvNet, 5>, sf::ScaleJunctionAction<ConvNet, 5>, 5>(c, conv, JunctionKind::scale);
}

TEST_CASE("every run-time junction action is a symmetry of the loss", "[runtime][junction]") {
  const Runtime dense = dense_runtime(), conv = conv_runtime();
  check_symmetry(dense, 1, JunctionKind::rescale);
  check_symmetry(dense, 3, JunctionKind::linear_imbalance);
  check_symmetry(dense, 3, JunctionKind::rescale);  // a linear σ is homogeneous too
  check_symmetry(dense, 5, JunctionKind::scale);
  check_symmetry(dense, 8, JunctionKind::scale);
  check_symmetry(dense, 8, JunctionKind::translation);
  check_symmetry(dense, 11, JunctionKind::translation);
  check_symmetry(conv, 1, JunctionKind::rescale);
  check_symmetry(conv, 3, JunctionKind::linear_imbalance);
  check_symmetry(conv, 5, JunctionKind::scale);
}

TEST_CASE("run-time models and junctions name what is wrong", "[runtime][errors]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(Runtime(sf::Shape{4}, {}), Contains("at least one layer"));
  CHECK_THROWS_WITH(Runtime(sf::Shape{4}, {sf::DenseLayer{3}, sf::ReLU{}, sf::DenseLayer{0}}),
                    Contains("layer 3 (dense) on input 3x1x1") && Contains("the number of units is 0"));
  CHECK_THROWS_WITH(Runtime(sf::Shape{1, 3, 3}, {sf::Conv2dLayer{2, 5, 1, 0}}), Contains("does not fit"));
  CHECK_THROWS_WITH(Runtime(sf::Shape{1, 3, 3}, {sf::Conv2dLayer{2, 3, 1, -1}}), Contains("padding is -1"));
  CHECK_THROWS_WITH(Runtime(sf::Shape{0}, {sf::ReLU{}}), Contains("input channels is 0"));
  CHECK_THROWS_WITH(sf::RuntimeLoss("mse"), Contains("unknown loss 'mse'") && Contains("mean_squared_error"));

  const Runtime net = dense_runtime();
  CHECK_THROWS_WITH(net.offset(12), Contains("layer 12 does not exist; layers are numbered 1, …, 11"));
  const Eigen::VectorXd short_theta = Eigen::VectorXd::Zero(3);
  CHECK_THROWS_WITH(net.forward(short_theta, Eigen::MatrixXd::Zero(4, 2)), Contains("θ has length 3"));
  CHECK_THROWS_WITH(net.forward(net.zero_params(), Eigen::MatrixXd::Zero(5, 2)), Contains("input X has shape 5x2"));
  CHECK_THROWS_WITH(sf::junction_kinds(net, 2), Contains("layer 2 (homogeneous) has no weights"));
  CHECK_THROWS_WITH(sf::junction_kinds(net, 6), Contains("no weights"));
  const Runtime tanh_net(sf::Shape{3}, {sf::DenseLayer{4}, sf::Tanh{}, sf::DenseLayer{2}});
  CHECK_THROWS_WITH(sf::junction_kinds(tanh_net, 1), Contains("(tanh) has no linear symmetry"));
  CHECK_THROWS_WITH(sf::junction_kinds(tanh_net, 3), Contains("only under softmax cross-entropy") && Contains("no loss"));
  const sf::RuntimeLoss mse{sf::MeanSquaredError{}};
  CHECK_THROWS_WITH(sf::junction_kinds(tanh_net, 3, &mse), Contains("the loss is mean_squared_error"));
  CHECK_THROWS_WITH(sf::RuntimeJunction<double>(net, 1, JunctionKind::scale), Contains("has rescale, not scale"));

  const sf::RuntimeJunction<double> rescale(net, 1, JunctionKind::rescale);
  const Eigen::VectorXd theta = Eigen::VectorXd::Ones(net.size());
  CHECK_THROWS_WITH(rescale.act(Eigen::MatrixXd::Ones(4, 1), theta), Contains("has shape 4x1, expected 5x1"));
  Eigen::MatrixXd negative = Eigen::MatrixXd::Ones(5, 1);
  negative(2) = -1;
  CHECK_THROWS_WITH(rescale.act(negative, theta), Contains("entry 2 is -1") && Contains("> 0"));
  const sf::RuntimeJunction<double> linear(net, 3, JunctionKind::linear_imbalance);
  CHECK_THROWS_WITH(linear.act(Eigen::MatrixXd::Zero(6, 6), theta), Contains("not invertible"));
  CHECK_THROWS_WITH(linear.linear(theta), Contains("quadratic"));
}

TEST_CASE("eq. (48) on a run-time junction is the two-layer Mlp's ElementwiseQuantity on its slice of θ",
          "[runtime][conserved]") {
  // Layers 3-5 of input 3 → Dense 4 + b → tanh → Dense 5 → σ → Dense 2 + b: W_3 (5 × 4) and W_5
  // (2 × 5) sit next to each other in θ, as W_1 and W_2 of Mlp<σ, 4, 5, 2>: the same quantity and
  // the same exact derivative, for every run-time activation, to 1e-14 relative (the fixed-size
  // Mlp sums in another order than the run-time widths do).
  const auto check = [](const auto& act) {
    using A = std::remove_cvref_t<decltype(act)>;
    const Runtime net(sf::Shape{3}, {sf::DenseWithBiasLayer{4}, sf::Tanh{}, sf::DenseLayer{5}, act,
                                     sf::DenseWithBiasLayer{2}});
    const sf::RuntimeElementwiseQuantity<double> q(net, 3);
    const sf::ElementwiseQuantity<sf::Mlp<double, A, 4, 5, 2>> reference{sf::Mlp<double, A, 4, 5, 2>(act)};
    const auto close = [](const auto& a, const auto& b) {
      return std::abs(a - b) <= 1e-14 * std::max(std::abs(a), std::abs(b)) + 1e-300;
    };
    auto rng = rng_for(48);
    for (int seed = 0; seed < 20; ++seed) {
      const Eigen::VectorXd theta = sf::random_params(net, rng, 0.8);
      const Eigen::VectorXd v = sf::random_params(net, rng);
      const Eigen::VectorXd slice = theta.segment(net.offset(3), 30);
      CHECK(q.rows() == 5);
      CHECK(q.activation() == A::name());
      CHECK(st::relative_error(q.value(theta), reference.value(slice)) <= 1e-14);
      CHECK(close(q.outgoing(theta), reference.outgoing(slice)));
      CHECK(close(q.incoming(theta), reference.incoming(slice)));
      CHECK(st::relative_error(q.derivative(theta, v),
                               sf::directional_derivative(reference, slice, v.segment(net.offset(3), 30))) <= 1e-14);
    }
  };
  check(sf::Identity{});
  check(sf::ReLU{});
  check(sf::LeakyReLU{0.2});
  check(sf::Homogeneous{3.0});
  check(sf::Tanh{});
  check(sf::Sigmoid{});
  // What eq. (48) cannot be on is named.
  const Runtime net(sf::Shape{3}, {sf::DenseWithBiasLayer{4}, sf::Tanh{}, sf::DenseLayer{2}, sf::BatchNorm{}, sf::ReLU{},
                                   sf::DenseLayer{2}});
  CHECK_THROWS_WITH(sf::RuntimeElementwiseQuantity<double>(net, 1),
                    Catch::Contains("layer 1 is dense_with_bias, expected dense without a bias"));
  CHECK_THROWS_WITH(sf::RuntimeElementwiseQuantity<double>(net, 3),
                    Catch::Contains("layer 4 is batch_norm, expected an activation"));
  CHECK_THROWS_WITH(sf::RuntimeElementwiseQuantity<double>(net, 5), Catch::Contains("the model has 6 layers"));
}
