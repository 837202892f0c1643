// Specification of the nonlinear pseudoinverse action (Prop. 8 / eqs. 15–16): with k = h it keeps the
// network's output on its batch and is a group action; with k < h the output and the composition law
// still hold but the identity is a projection; with k > h the identity holds but composition and the
// output do not; off the batch the output moves to first order in ‖g − I‖; rank and conditioning
// trouble is reported, never hidden. Over 100 random seeds, for tanh, sigmoid, leaky ReLU and radial.
#include "group_support.hpp"

#include <algorithm>
#include <cmath>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::InverseQuadratic;
using sf::test::rng_for;

namespace {

constexpr int kTrials = 100;
using Matrix = Eigen::MatrixXd;

template <class Act>
using Deep = sf::BiasedMlp<double, Act, 6, 5, 5, 2>;  // two hidden layers of width h = 5

// Parameters with N(0, 0.5²) entries keep the pre-activations of order one, so that σ(gZ) is
// well-conditioned for most draws; the few draws where it is not are reported by the action
// (PseudoinverseError) and counted.
constexpr double kParamScale = 0.5;
constexpr int kMaxRefused = 5;  // of kTrials

// g = exp(M) with ‖M‖ = norm.
template <class Action>
typename Action::Group random_group(const Action& action, std::mt19937_64& rng, double norm) {
  return action.exp(sf::test::scaled_random(action, rng, norm));
}

struct Worst {
  double output = 0, loss = 0, composition = 0, inverse = 0, identity = 0;
  int refused = 0;  // trials where σ(gZ) was rank-deficient or ill-conditioned and the action said so
};

// k = h: every axiom and the output on the batch, for g near (‖M‖ = 1e-3) and far (‖M‖ = 1) from I.
template <class Net, int Layer>
Worst check_square_batch(const Net& net, int trials = kTrials) {
  Worst worst;
  const sf::Index k = net.width(Layer);
  for (int trial = 0; trial < trials; ++trial) {
    auto rng = rng_for(trial);
    const Matrix x = sf::random_normal<Matrix>(net.input_size(), k, rng);
    const Matrix y = sf::random_normal<Matrix>(net.output_size(), k, rng);
    const sf::PseudoinverseAction<Net, Layer> action(net, x);
    const sf::Objective objective(net, sf::HalfSquaredError{}, x, y);
    const typename Net::Params theta = sf::random_params(net, rng, kParamScale);
    INFO("trial " << trial);
    Worst w;
    try {
      for (const double norm : {1e-3, 1.0}) {
        const auto g1 = random_group(action, rng, norm);
        const auto g2 = random_group(action, rng, norm);
        w.output = std::max(w.output, st::output_invariance_error(net, action, g1, theta, x));
        w.loss = std::max(w.loss, st::invariance_error(objective, action, g1, theta));
        w.composition = std::max(w.composition, st::composition_axiom_error(action, g2, g1, theta));
        w.inverse = std::max(w.inverse, st::inverse_axiom_error(action, g1, theta));
      }
      w.identity = st::identity_axiom_error(action, theta);
    } catch (const sf::PseudoinverseError& e) {
      CHECK(e.status() != sf::PinvStatus::ok);
      ++worst.refused;
      continue;
    }
    worst.output = std::max(worst.output, w.output);
    worst.loss = std::max(worst.loss, w.loss);
    worst.composition = std::max(worst.composition, w.composition);
    worst.inverse = std::max(worst.inverse, w.inverse);
    worst.identity = std::max(worst.identity, w.identity);
  }
  return worst;
}

template <class Act>
void check_all_square(const Act& act) {
  const Worst two = check_square_batch<sf::TwoLayer<double, Act, 6, 6, 2>, 1>(sf::TwoLayer<double, Act, 6, 6, 2>(act));
  const Worst last = check_square_batch<Deep<Act>, 2>(Deep<Act>(act));   // the last two layers of a deeper net
  const Worst first = check_square_batch<Deep<Act>, 1>(Deep<Act>(act));  // a hidden layer with layers after it
  for (const Worst& w : {two, last, first}) {
    CAPTURE(w.output, w.loss, w.composition, w.inverse, w.identity, w.refused);
    CHECK(w.output <= 1e-10);  // F_{g·θ}(X) = F_θ(X) on the batch that defines π
    CHECK(w.loss <= 1e-10);
    CHECK(w.composition <= 1e-9);  // eq. (16); two pseudoinverses, so twice the conditioning
    CHECK(w.inverse <= 1e-9);
    CHECK(w.identity <= 1e-10);
    CHECK(w.refused <= kMaxRefused);
  }
}

}  // namespace

TEST_CASE("with k = h the pseudoinverse action is a group action that keeps the output on its batch", "[group][pinv]") {
  SECTION("tanh") { check_all_square(sf::Tanh{}); }
  SECTION("sigmoid") { check_all_square(sf::Sigmoid{}); }
  SECTION("leaky relu") { check_all_square(sf::LeakyReLU{0.1}); }
  SECTION("radial") { check_all_square(sf::Radial<InverseQuadratic>{}); }
}

TEST_CASE("with k < h the output and the composition law hold, and the identity is a projection", "[group][pinv]") {
  using Net = sf::BiasedMlp<double, sf::Tanh, 3, 7, 2>;
  const Net net;
  const sf::Index k = 4;  // < h = 7
  double worst_output = 0, worst_composition = 0, worst_idempotent = 0, worst_on_image = 0, least_identity = 1e300;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Matrix x = sf::random_normal<Matrix>(3, k, rng);
    const sf::PseudoinverseAction action(net, x);
    const Net::Params theta = sf::random_params(net, rng, kParamScale);
    const auto g1 = random_group(action, rng, 1.0);
    const auto g2 = random_group(action, rng, 1.0);
    worst_output = std::max(worst_output, st::output_invariance_error(net, action, g1, theta, x));
    worst_composition = std::max(worst_composition, st::composition_axiom_error(action, g2, g1, theta));
    // I·θ = (U P, V, b) with P = σ(Z)σ(Z)⁺ of rank k < h: not θ, but idempotent …
    const Net::Params projected = action.act(action.identity(), theta);
    least_identity = std::min(least_identity, st::relative_error(net.weight<2>(projected), net.weight<2>(theta)));
    worst_idempotent = std::max(worst_idempotent, st::relative_error(action.act(action.identity(), projected), projected));
    // … and on its image {U : U P = U} the identity and inverse axioms hold.
    worst_on_image = std::max({worst_on_image, st::identity_axiom_error(action, projected),
                               st::inverse_axiom_error(action, g1, projected)});
  }
  CAPTURE(worst_output, worst_composition, worst_idempotent, worst_on_image, least_identity);
  CHECK(worst_output <= 1e-10);
  CHECK(worst_composition <= 1e-10);
  CHECK(least_identity >= 1e-2);  // the identity axiom fails for every seed
  CHECK(worst_idempotent <= 1e-12);
  CHECK(worst_on_image <= 1e-10);
}

TEST_CASE("with k > h the identity holds but composition and the output on the batch do not", "[group][pinv]") {
  using Net = sf::TwoLayer<double, sf::Sigmoid, 3, 4, 2>;
  const Net net;
  const sf::Index k = 9;  // > h = 4
  double worst_identity = 0, least_composition = 1e300, least_output = 1e300;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Matrix x = sf::random_normal<Matrix>(3, k, rng);
    const sf::PseudoinverseAction action(net, x);
    const Net::Params theta = sf::random_params(net, rng, kParamScale);
    const auto g1 = random_group(action, rng, 1.0);
    const auto g2 = random_group(action, rng, 1.0);
    worst_identity = std::max(worst_identity, st::identity_axiom_error(action, theta));
    least_composition = std::min(least_composition, st::composition_axiom_error(action, g2, g1, theta));
    least_output = std::min(least_output, st::output_invariance_error(net, action, g1, theta, x));
  }
  CAPTURE(worst_identity, least_composition, least_output);
  CHECK(worst_identity <= 1e-12);  // σ(Z)σ(Z)⁺ = I_h when σ(Z) has full row rank h
  CHECK(least_composition >= 1e-4);
  CHECK(least_output >= 1e-4);
}

TEST_CASE("off the batch the output moves linearly in ‖g − I‖", "[group][pinv][ensemble]") {
  // F_{g·θ}(X') − F_θ(X') = J·(M̄θ)·t + O(t²) for g = exp(tM): the relative change divided by
  // ‖g − I‖ tends to a nonzero constant. On the defining batch X it stays at rounding level.
  using Net = sf::BiasedMlp<double, sf::Tanh, 4, 6, 3>;
  const Net net;
  const sf::Index k = 6;
  double worst_linearity = 0, least_slope = 1e300, worst_on_batch = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Matrix x = sf::random_normal<Matrix>(4, k, rng);
    const Matrix other = sf::random_normal<Matrix>(4, 20, rng);
    const sf::PseudoinverseAction action(net, x);
    const Net::Params theta = sf::random_params(net, rng, kParamScale);
    const auto m = sf::test::scaled_random(action, rng, 1.0);
    double slope[2];
    for (int i = 0; i < 2; ++i) {
      const double t = i == 0 ? 1e-4 : 1e-5;
      const Eigen::Matrix<double, 6, 6> g = action.exp(t * m);
      const double distance = (g - Eigen::Matrix<double, 6, 6>::Identity()).norm();
      slope[i] = st::output_invariance_error(net, action, g, theta, other) / distance;
      worst_on_batch = std::max(worst_on_batch, st::output_invariance_error(net, action, g, theta, x));
    }
    worst_linearity = std::max(worst_linearity, std::abs(slope[0] / slope[1] - 1));
    least_slope = std::min(least_slope, slope[1]);
  }
  CAPTURE(worst_linearity, least_slope, worst_on_batch);
  CHECK(worst_linearity <= 0.02);  // first order: a tenth of the step, a tenth of the change, up to O(t)
  CHECK(least_slope >= 1e-3);      // and the first-order term does not vanish
  CHECK(worst_on_batch <= 1e-10);
}

TEST_CASE("the pseudoinverse action's generator is its derivative", "[group][pinv][generator]") {
  // Central differences of t ↦ exp(tM)·θ with step s err by O(s²·c), where c grows with the
  // condition number of σ(Z) (the curve's higher derivatives go through σ(gZ)⁺). Where σ(Z) is well
  // conditioned (condition number ≤ 1e3) the difference with s = 1e-5 is within 1e-6; everywhere,
  // shrinking s tenfold shrinks the difference about a hundredfold, down to 1e-7: the generator is
  // the limit.
  double worst_conditioned = 0, worst_order = 0;
  int well_conditioned = 0;
  const auto check = [&](const auto& action, const auto& theta, std::mt19937_64& rng) {
    const auto m = action.algebra().random(rng);
    const double coarse = st::generator_derivative_error(action, m, theta, 1e-4);
    const double fine = st::generator_derivative_error(action, m, theta, 1e-5);
    if (action.representation(action.identity(), theta).condition <= 1e3) {
      ++well_conditioned;
      worst_conditioned = std::max(worst_conditioned, fine);
    }
    worst_order = std::max(worst_order, fine / std::max(coarse * 0.05, 1e-7));
  };
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    for (const sf::Index k : {3, 5, 8}) {  // k < h, k = h, k > h
      using Net = sf::BiasedMlp<double, sf::Sigmoid, 3, 5, 2>;
      const Net net;
      const sf::PseudoinverseAction action(net, sf::random_normal<Matrix>(3, k, rng));
      check(action, sf::random_params(net, rng, kParamScale), rng);
    }
    // σ(Z) = Z diag(f(‖z_j‖)) has rank at most rank Z ≤ n: radial and linear blocks need n ≥ h.
    using Rad = sf::Mlp<double, sf::Radial<InverseQuadratic>, 4, 4, 2>;
    const sf::PseudoinverseAction radial(Rad{}, sf::random_normal<Matrix>(4, 4, rng));
    check(radial, sf::random_params(Rad{}, rng, kParamScale), rng);
  }
  CAPTURE(worst_conditioned, worst_order, well_conditioned);
  CHECK(well_conditioned >= 300);
  CHECK(worst_conditioned <= 1e-6);
  CHECK(worst_order <= 1.0);
}

TEST_CASE("for an equivariant activation the pseudoinverse action is the linear action", "[group][pinv]") {
  // σ(gZ) = π(g)σ(Z) and σ(Z) invertible give π(g, Z) = σ(Z)σ(Z)⁻¹π(g)⁻¹ = π(g)⁻¹.
  double worst = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    using Lin = sf::TwoLayer<double, sf::Identity, 4, 4, 2>;  // n ≥ h, so that Z = VX is invertible
    const sf::PseudoinverseAction pinv(Lin{}, sf::random_normal<Matrix>(4, 4, rng));
    const sf::GeneralLinearAction linear{Lin{}};
    const Lin::Params theta = sf::random_params(Lin{}, rng, kParamScale);
    const auto g = pinv.exp(pinv.algebra().random(rng, 0.5));
    worst = std::max(worst, st::relative_error(pinv.act(g, theta), linear.act(g, theta)));
    using Leaky = sf::BiasedMlp<double, sf::LeakyReLU, 4, 4, 2>;
    const Leaky leaky(sf::LeakyReLU{0.2});
    const sf::PseudoinverseAction pinv_leaky(leaky, sf::random_normal<Matrix>(4, 4, rng));
    const sf::ScalingAction scaling(leaky);
    const Leaky::Params t = sf::random_params(leaky, rng, kParamScale);
    const Eigen::Vector4d c = scaling.exp(scaling.algebra().random(rng));
    worst = std::max(worst, st::relative_error(pinv_leaky.act(Eigen::Matrix4d(c.asDiagonal()), t), scaling.act(c, t)));
  }
  CAPTURE(worst);
  CHECK(worst <= 1e-10);
}

TEST_CASE("the block input can be given explicitly, e.g. the features of earlier layers", "[group][pinv][block]") {
  using Net = sf::BiasedMlp<double, sf::Tanh, 3, 6, 5, 2>;
  using Block = sf::BiasedMlp<double, sf::Tanh, 6, 5, 2>;  // the last two layers on their own
  const Net net;
  const Block block;
  for (int trial = 0; trial < kTrials; ++trial) {
    auto rng = rng_for(trial);
    const Matrix x = sf::random_normal<Matrix>(3, 5, rng);
    const Net::Params theta = sf::random_params(net, rng, kParamScale);
    const sf::PseudoinverseAction<Net, 2> from_input(net, x);
    // A = σ(W_1 X + b_1 1ᵀ), computed here by hand.
    Matrix a = net.weight<1>(theta) * x;
    a.colwise() += net.bias<1>(theta);
    a = a.unaryExpr([](double v) { return std::tanh(v); }).eval();
    CHECK(st::relative_error(from_input.block_input(theta), a) <= 1e-15);
    const auto explicit_input = sf::PseudoinverseAction<Net, 2>::on_block_input(net, a);
    const auto g = from_input.exp(from_input.algebra().random(rng, 0.5));
    const Net::Params moved = from_input.act(g, theta);
    CHECK(st::relative_error(explicit_input.act(g, theta), moved) <= 1e-12);
    // The same transformation of the block as a model of its own, on input A.
    const Block::Params block_theta = theta.tail<Block::num_params>();
    const auto on_block = sf::PseudoinverseAction<Block, 1>::on_block_input(block, a);
    CHECK(st::relative_error(on_block.act(g, block_theta), Block::Params(moved.tail<Block::num_params>())) <= 1e-12);
    CHECK(st::relative_error(block.forward(on_block.act(g, block_theta), a), net.forward(theta, x)) <= 1e-10);
  }
}

TEST_CASE("rank-deficient, ill-conditioned and non-finite σ(gZ) are reported with what was seen", "[group][pinv][errors]") {
  auto rng = rng_for(0);
  const Eigen::Matrix4d g = Eigen::Matrix4d::Identity();
  SECTION("rank deficient: a ReLU unit that is off on the whole batch") {
    Matrix z = sf::random_normal<Matrix>(4, 4, rng);
    z.row(2) = -z.row(2).cwiseAbs();  // σ(gZ) has a zero row
    const auto r = sf::try_pseudoinverse_representation(sf::ReLU{}, g, z);
    CHECK(r.status == sf::PinvStatus::rank_deficient);
    CHECK(r.rank <= 3);
    CHECK(r.expected_rank == 4);
    CHECK_THROWS_AS(sf::pseudoinverse_representation(sf::ReLU{}, g, z), sf::PseudoinverseError);
    CHECK_THROWS_WITH(sf::pseudoinverse_representation(sf::ReLU{}, g, z),
                      Catch::Contains("rank deficient") && Catch::Contains("of expected min(h, k) = 4"));
  }
  SECTION("ill-conditioned: two units that nearly agree on the batch") {
    Matrix z = sf::random_normal<Matrix>(4, 4, rng);
    z.row(3) = z.row(1) + 1e-10 * sf::random_normal<Matrix>(1, 4, rng);
    const auto r = sf::try_pseudoinverse_representation(sf::Tanh{}, g, z);
    CHECK(r.status == sf::PinvStatus::ill_conditioned);
    CHECK(r.rank == 4);
    CHECK(r.condition > 1e8);
    try {
      sf::pseudoinverse_representation(sf::Tanh{}, g, z);
      FAIL("expected a PseudoinverseError");
    } catch (const sf::PseudoinverseError& e) {
      CHECK(e.status() == sf::PinvStatus::ill_conditioned);
      CHECK(e.condition() == r.condition);
      CHECK_THAT(e.what(), Catch::Contains("ill-conditioned") && Catch::Contains("condition number"));
    }
    // A looser limit accepts it.
    CHECK(sf::try_pseudoinverse_representation(sf::Tanh{}, g, z, sf::PinvOptions{-1, 1e14}).ok());
  }
  SECTION("not finite") {
    Matrix z = sf::random_normal<Matrix>(4, 4, rng);
    z(0, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK(sf::try_pseudoinverse_representation(sf::Tanh{}, g, z).status == sf::PinvStatus::not_finite);
  }
  SECTION("the model action throws, and try_act reports") {
    using Net = sf::TwoLayer<double, sf::ReLU, 3, 4, 2>;
    const Net net;
    Net::Params theta = sf::random_params(net, rng);
    net.weight<1>(theta).row(0).setZero();  // unit 0 is never active
    const sf::PseudoinverseAction action(net, sf::random_normal<Matrix>(3, 4, rng));
    CHECK_THROWS_AS(action.act(g, theta), sf::PseudoinverseError);
    const auto result = action.try_act(g, theta);
    CHECK_FALSE(result.ok());
    CHECK(result.representation.status == sf::PinvStatus::rank_deficient);
  }
  SECTION("shapes") {
    using Net = sf::TwoLayer<double, sf::Tanh, 3, 4, 2>;
    CHECK_THROWS_WITH(sf::PseudoinverseAction(Net{}, Matrix::Ones(2, 4)), Catch::Contains("input batch X has shape 2x4, expected 3x4"));
    CHECK_THROWS_WITH(sf::try_pseudoinverse_representation(sf::Tanh{}, Matrix::Identity(3, 3), Matrix::Ones(4, 4)),
                      Catch::Contains("group element g has shape 3x3, expected 4x4"));
  }
}
