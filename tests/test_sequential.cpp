// Specification of layered models (symflow::Sequential): every layer computes what its formula says,
// the gradient is the derivative of the loss, the Hessian-vector product is the derivative of the
// gradient, for dense, activation, convolution, normalisation and residual layers, fixed and
// Dynamic sizes; and a Sequential of dense layers is the Mlp with the same θ.
#include "support.hpp"

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using sf::Dense;
using sf::Input;
using sf::WithBias;
using sf::Index;
using sf::Dynamic;

namespace {

template <class Net>
Eigen::MatrixXd random_input(const Net& net, Index k, std::mt19937_64& rng) {
  return sf::random_normal<Eigen::MatrixXd>(net.input_size(), k, rng);
}

/// ∇L against central differences and Hv against central differences of ∇L, over `trials` seeds.
template <class Net, class LossT>
void check_derivatives(const Net& net, const LossT& loss, int trials, Index k = 6) {
  using Params = typename Net::Params;
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::MatrixXd x = random_input(net, k, rng);
    const Eigen::MatrixXd y = std::is_same_v<LossT, sf::SoftmaxCrossEntropy>
                                  ? sf::test::one_hot<Eigen::MatrixXd>(rng, net.output_size(), k)
                                  : sf::random_normal<Eigen::MatrixXd>(net.output_size(), k, rng);
    const sf::Objective<Net, LossT> objective(net, loss, x, y);
    const Params theta = sf::random_params(net, rng, 0.5);
    const Params grad = objective.gradient(theta);
    const Params fd = st::finite_difference_gradient([&](const Params& t) { return objective.value(t); }, theta);
    INFO("trial " << trial);
    CHECK(st::relative_error(grad, fd, 1e-3) <= 1e-7);
    // Hv = d/dt ∇L(θ + t v), central difference with step 1e-5.
    const Params v = sf::random_params(net, rng);
    const Params hv = objective.hessian_vector_product(theta, v);
    const double h = 1e-5;
    const Params fd_hv = (objective.gradient(theta + h * v) - objective.gradient(theta - h * v)) / (2 * h);
    CHECK(st::relative_error(hv, fd_hv, 1e-3) <= 1e-6);
  }
}

// A convolution written from its definition, independently of the im2col code.
template <class Net, int I>
Eigen::VectorXd direct_convolution(const Net& net, const Eigen::VectorXd& theta, const Eigen::VectorXd& x) {
  const auto& l = net.template layer<I>();
  const sf::Shape in = l.in_shape(), out = l.out_shape();
  const Index k = l.kernel(), s = l.stride(), pad = l.padding();
  const Eigen::VectorXd w = theta.segment(net.offset(I), l.size());
  Eigen::VectorXd y(out.size());
  for (Index o = 0; o < out.channels; ++o)
    for (Index r = 0; r < out.height; ++r)
      for (Index c = 0; c < out.width; ++c) {
        double sum = w[out.channels * in.channels * k * k + o];  // bias after the weights
        for (Index i = 0; i < in.channels; ++i)
          for (Index u = 0; u < k; ++u)
            for (Index v = 0; v < k; ++v) {
              const Index yy = r * s + u - pad, xx = c * s + v - pad;
              if (yy < 0 || yy >= in.height || xx < 0 || xx >= in.width) continue;
              sum += w[((o * in.channels + i) * k + u) * k + v] * x[(i * in.height + yy) * in.width + xx];
            }
        y[(o * out.height + r) * out.width + c] = sum;
      }
  return y;
}

using ConvNet = sf::Sequential<double, Input<2, 6, 5>, sf::Conv2d<3, 3, 2, 1>, sf::ReLU, sf::Conv2d<2, 2>, sf::BatchNorm,
                               sf::Tanh, Dense<4, WithBias>>;
using NormNet = sf::Sequential<double, Input<5>, Dense<6, WithBias>, sf::LayerNorm, sf::Tanh, Dense<4>, sf::BatchNorm,
                               sf::LeakyReLU, Dense<3, WithBias>>;
using ResidualNet = sf::Sequential<double, Input<4>, Dense<5, WithBias>, sf::Tanh,
                                   sf::Residual<Dense<7, WithBias>, sf::test::Softplus, Dense<5>>, Dense<3>>;

}  // namespace

TEST_CASE("a Sequential of dense layers is the Mlp with the same parameters", "[sequential][mlp]") {
  using Seq = sf::Sequential<double, Input<4>, Dense<6, WithBias>, sf::LeakyReLU, Dense<5, WithBias>, sf::LeakyReLU,
                             Dense<3, WithBias>>;
  using Net = sf::BiasedMlp<double, sf::LeakyReLU, 4, 6, 5, 3>;
  static_assert(Seq::num_params == Net::num_params);
  const Seq seq(Dense<6, WithBias>{}, sf::LeakyReLU{0.2}, Dense<5, WithBias>{}, sf::LeakyReLU{0.2}, Dense<3, WithBias>{});
  const Net mlp(sf::LeakyReLU{0.2});
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::Matrix<double, 4, 7> x = sf::random_normal<Eigen::Matrix<double, 4, 7>>(4, 7, rng);
    const Eigen::Matrix<double, 3, 7> y = sf::random_normal<Eigen::Matrix<double, 3, 7>>(3, 7, rng);
    const auto theta = sf::random_params(mlp, rng);
    CHECK(st::relative_error(seq.forward(theta, x), mlp.forward(theta, x)) <= 1e-15);
    const sf::Objective a(seq, sf::HalfSquaredError{}, x, y);
    const sf::Objective b(mlp, sf::HalfSquaredError{}, x, y);
    CHECK(st::relative_error(a.gradient(theta), b.gradient(theta)) <= 1e-14);
    CHECK(seq.weight<3>(theta) == mlp.weight<2>(theta));
    CHECK(seq.bias<5>(theta) == mlp.bias<3>(theta));
  }
}

TEST_CASE("a convolution is the cross-correlation with PyTorch's weight order", "[sequential][conv]") {
  const ConvNet net;
  static_assert(ConvNet::Layer<1>::out_h == 3 && ConvNet::Layer<1>::out_w == 3, "(6 + 2 − 3)/2 + 1 = 3");
  static_assert(ConvNet::Layer<3>::out_width == 2 * 2 * 2);
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    const Eigen::VectorXd theta = sf::random_params(net, rng);
    const Eigen::VectorXd x = sf::random_normal<Eigen::VectorXd>(net.input_size(), 1, rng);
    typename ConvNet::ForwardPass<Dynamic> pass;
    net.forward(theta, Eigen::MatrixXd(x), pass);
    CHECK(st::relative_error(Eigen::VectorXd(pass.at<1>().col(0)), direct_convolution<ConvNet, 1>(net, theta, x)) <= 1e-14);
    const Eigen::VectorXd a = pass.at<2>().col(0);  // after the ReLU
    CHECK(st::relative_error(Eigen::VectorXd(pass.at<3>().col(0)), direct_convolution<ConvNet, 3>(net, theta, a)) <= 1e-14);
  }
}

TEST_CASE("normalisation layers standardise what the documentation says", "[sequential][normalization]") {
  const NormNet net(Dense<6, WithBias>{}, sf::LayerNorm{0.0}, sf::Tanh{}, Dense<4>{}, sf::BatchNorm{0.0}, sf::LeakyReLU{},
                    Dense<3, WithBias>{});
  auto rng = rng_for(0);
  const Eigen::VectorXd theta = sf::random_params(net, rng);
  const Eigen::MatrixXd x = random_input(net, 9, rng);
  typename NormNet::ForwardPass<Dynamic> pass;
  net.forward(theta, x, pass);
  const Eigen::MatrixXd ln = pass.at<2>(), bn = pass.at<5>();
  // Layer norm: every sample (column) has mean 0 and biased variance 1.
  CHECK(ln.colwise().mean().cwiseAbs().maxCoeff() <= 1e-15);
  CHECK(((ln.colwise().squaredNorm() / 6.0).array() - 1.0).abs().maxCoeff() <= 1e-14);
  // Batch norm: every unit (row) has mean 0 and biased variance 1 over the batch.
  CHECK(bn.rowwise().mean().cwiseAbs().maxCoeff() <= 1e-15);
  CHECK(((bn.rowwise().squaredNorm() / 9.0).array() - 1.0).abs().maxCoeff() <= 1e-14);
}

TEST_CASE("gradients and Hessian-vector products of every layer kind", "[sequential][gradient]") {
  SECTION("convolutions with stride and padding, batch norm of their channels") {
    check_derivatives(ConvNet{}, sf::HalfSquaredError{}, 10, 3);
  }
  SECTION("layer and batch normalisation, epsilon 0 and 1e-3") {
    check_derivatives(NormNet(Dense<6, WithBias>{}, sf::LayerNorm{0.0}, sf::Tanh{}, Dense<4>{}, sf::BatchNorm{0.0},
                              sf::LeakyReLU{0.1}, Dense<3, WithBias>{}),
                      sf::SoftmaxCrossEntropy{}, 20);
    check_derivatives(NormNet(Dense<6, WithBias>{}, sf::LayerNorm{1e-3}, sf::Tanh{}, Dense<4>{}, sf::BatchNorm{1e-3},
                              sf::LeakyReLU{0.1}, Dense<3, WithBias>{}),
                      sf::MeanSquaredError{}, 20);
  }
  SECTION("a residual block, different activations, a user activation, softmax head") {
    check_derivatives(ResidualNet{}, sf::SoftmaxCrossEntropy{}, 20);
  }
  SECTION("Dynamic widths") {
    using Net = sf::Sequential<double, Input<Dynamic>, Dense<Dynamic, WithBias>, sf::LayerNorm, sf::ReLU,
                               sf::Residual<Dense<Dynamic>, sf::Tanh>, Dense<3>>;
    const Net net(sf::Shape{4}, Dense<Dynamic, WithBias>{7}, sf::LayerNorm{}, sf::ReLU{},
                  sf::Residual<Dense<Dynamic>, sf::Tanh>(Dense<Dynamic>{7}, sf::Tanh{}), Dense<3>{});
    static_assert(Net::num_params == Dynamic);
    CHECK(net.size() == 4 * 7 + 7 + 7 * 7 + 7 * 3);
    check_derivatives(net, sf::SoftmaxCrossEntropy{}, 20);
  }
}

TEST_CASE("the Hessian of a layered model is symmetric and its columns are Hessian-vector products", "[sequential][hessian]") {
  const ResidualNet net;
  auto rng = rng_for(1);
  const Eigen::MatrixXd x = random_input(net, 5, rng);
  const Eigen::MatrixXd y = sf::random_normal<Eigen::MatrixXd>(3, 5, rng);
  const sf::Objective<ResidualNet, sf::HalfSquaredError> objective(net, {}, x, y);
  const auto theta = sf::random_params(net, rng);
  const Eigen::MatrixXd h = objective.hessian(theta);
  typename ResidualNet::Params e = net.zero_params();
  e[7] = 1.0;
  CHECK(st::relative_error(Eigen::VectorXd(h.col(7)), Eigen::VectorXd(objective.hessian_vector_product(theta, e))) <= 1e-14);
}

TEST_CASE("layered models run in float and long double", "[sequential][scalar]") {
  using Net = sf::Sequential<long double, Input<3>, Dense<4, WithBias>, sf::LayerNorm, sf::Tanh, Dense<2>>;
  const Net net;
  auto rng = rng_for(0);
  const Eigen::Matrix<long double, 3, 4> x = sf::random_normal<Eigen::Matrix<long double, 3, 4>>(3, 4, rng);
  const Eigen::Matrix<long double, 2, 4> y = sf::random_normal<Eigen::Matrix<long double, 2, 4>>(2, 4, rng);
  const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
  const auto theta = sf::random_params(net, rng);
  using P = typename Net::Params;
  const P fd = st::finite_difference_gradient([&](const P& t) { return objective.value(t); }, theta);
  CHECK(st::relative_error(objective.gradient(theta), fd) <= 1e-9);
}

TEST_CASE("layered models name wrong shapes", "[sequential][errors]") {
  const ConvNet net;
  const Eigen::VectorXd theta = net.zero_params(), wrong = Eigen::VectorXd::Zero(3);
  CHECK_THROWS_WITH(net.forward(theta, Eigen::MatrixXd::Zero(59, 2)), Catch::Contains("expected 60 rows = 2x6x5"));
  CHECK_THROWS_WITH(net.forward(wrong, Eigen::MatrixXd::Zero(60, 2)), Catch::Contains("has length 3, expected"));
  using Dyn = sf::Sequential<double, Input<Dynamic, Dynamic, Dynamic>, sf::Conv2d<2, 5>, Dense<2>>;
  CHECK_THROWS_WITH(Dyn(sf::Shape{1, 3, 3}, sf::Conv2d<2, 5>{}, Dense<2>{}), Catch::Contains("does not fit"));
  using Norm = sf::Sequential<double, Input<3>, sf::LayerNorm>;
  const Norm norm;
  const Eigen::VectorXd none = norm.zero_params();
  CHECK_THROWS_WITH(norm.forward(none, Eigen::MatrixXd::Ones(3, 2)), Catch::Contains("zero variance"));
}
