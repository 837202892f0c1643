// Specification of the ensemble module: the last two layers of a network as a block, ensembles of
// blocks with their majority vote, the cross-entropy of their averaged predictive distribution, the
// averaged-logit network whose input gradient the attacks follow, FGSM and PGD in the ℓ∞ ball.
#include "support.hpp"

#include <symflow/ensemble.hpp>
#include <symflow/flow/adam.hpp>
#include <symflow/flow/run.hpp>

#include <algorithm>
#include <numeric>

namespace sf = symflow;
namespace st = symflow::testing;
using sf::test::rng_for;
using Matrix = Eigen::MatrixXd;

namespace {

using Deep = sf::BiasedMlp<double, sf::LeakyReLU, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
using FixedDeep = sf::Mlp<double, sf::LeakyReLU, 5, 7, 6, 3>;
using Shallow = sf::BiasedMlp<double, sf::LeakyReLU, 4, 6, 3>;
// Derivatives are compared with central differences on smooth activations: a difference step that
// straddles a LeakyReLU kink would measure the kink, not an error.
using Smooth = sf::BiasedMlp<double, sf::Tanh, sf::Dynamic, sf::Dynamic, sf::Dynamic, sf::Dynamic>;
using SmoothFixed = sf::Mlp<double, sf::Tanh, 5, 7, 6, 3>;
using SmoothShallow = sf::BiasedMlp<double, sf::Sigmoid, 4, 6, 3>;

// Inputs in the unit box [0, 1]^{n×k}, as pixel intensities.
Matrix uniform_inputs(std::mt19937_64& rng, sf::Index n, sf::Index k) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Matrix x(n, k);
  for (sf::Index j = 0; j < k; ++j)
    for (sf::Index i = 0; i < n; ++i) x(i, j) = u(rng);
  return x;
}

std::vector<int> random_labels(std::mt19937_64& rng, int classes, sf::Index k) {
  std::uniform_int_distribution<int> c(0, classes - 1);
  std::vector<int> y(static_cast<std::size_t>(k));
  for (auto& v : y) v = c(rng);
  return y;
}

// A block like the model's last two layers, with random entries.
template <class Model>
sf::LastLayers<double> random_block(const Model& model, std::mt19937_64& rng, double stddev = 0.5) {
  typename Model::Params theta = sf::random_params(model, rng, stddev);
  return sf::last_layers(model, theta);
}

// −(1/k) Σ_j log softmax(F̄(x_j))_{y_j} of the averaged logits, straight from the members' outputs.
template <class Model>
double averaged_logit_loss(const sf::LastLayersEnsemble<Model>& e, const Matrix& x, const std::vector<int>& y) {
  return sf::SoftmaxCrossEntropy{}.value(e.averaged_logits(x), sf::one_hot_targets<double>(y, e.model().output_size()));
}

}  // namespace

TEST_CASE("predictions are the first largest logit; the vote is the mode with ties to the smallest class",
          "[ensemble][vote]") {
  Matrix logits(3, 4);
  logits << 1, 5, 2, 0,  //
      3, 5, 2, 0,        //
      2, 1, 9, 0;
  CHECK(sf::predicted_classes(logits) == std::vector<int>{1, 0, 2, 0});

  sf::PredictionMatrix p(5, 4);
  p << 0, 1, 2, 3,  //
      0, 1, 1, 2,   //
      1, 2, 1, 3,   //
      1, 2, 0, 2,   //
      2, 0, 0, 1;
  // Sample 0: classes 0 and 1 have two votes each -> 0. Sample 1: 1 and 2 tie -> 1. Sample 2: 1 and 0
  // tie at two -> 0. Sample 3: 3 and 2 tie -> 2.
  CHECK(sf::majority_vote(p, 4) == std::vector<int>{0, 1, 0, 2});
  // The first three members only: 0 (two votes), 1 (two), 1 (two of three), 3 (two).
  CHECK(sf::majority_vote(p, 4, 3) == std::vector<int>{0, 1, 1, 3});
  // One member: its own predictions.
  CHECK(sf::majority_vote(p, 4, 1) == std::vector<int>{0, 1, 2, 3});
  CHECK_THROWS_AS(sf::majority_vote(p, 4, 6), std::invalid_argument);
  CHECK_THROWS_AS(sf::majority_vote(p, 3), std::invalid_argument);  // class 3 is not one of 0…2

  // The vote depends on the members only as a multiset: any reordering of the rows gives it.
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    sf::PredictionMatrix q(9, 50);
    std::uniform_int_distribution<int> c(0, 4);
    for (sf::Index i = 0; i < q.size(); ++i) q(i) = c(rng);
    std::vector<int> order(9);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    sf::PredictionMatrix shuffled(9, 50);
    for (int r = 0; r < 9; ++r) shuffled.row(r) = q.row(order[static_cast<std::size_t>(r)]);
    CHECK(sf::majority_vote(q, 5) == sf::majority_vote(shuffled, 5));
  }
  CHECK(sf::accuracy({1, 2, 3, 4}, {1, 0, 3, 0}) == 0.5);
}

TEST_CASE("the last two layers are a block whose outputs on the block inputs are the network's outputs",
          "[ensemble][block]") {
  const auto check = [](const auto& net) {
    for (int trial = 0; trial < 10; ++trial) {
      auto rng = rng_for(trial);
      const auto theta = sf::random_params(net, rng, 0.5);
      const Matrix x = uniform_inputs(rng, net.input_size(), 9);
      const sf::LastLayers<double> block = sf::last_layers(net, theta);
      CHECK(block.hidden() == net.width(net.depth - 1));
      const Matrix a = sf::block_inputs(net, theta, x);
      CHECK(a.rows() == net.width(net.depth - 2));
      CHECK(st::relative_error(block.outputs(net.activation(), a), net.forward(theta, x)) <= 1e-14);
      // Taking the block out and putting it back gives θ bit for bit.
      CHECK(sf::with_last_layers(net, theta, block) == theta);
    }
  };
  SECTION("biased, three layers, run-time widths") { check(Deep({5, 8, 6, 3})); }
  SECTION("no biases, three layers, fixed widths") { check(FixedDeep{}); }
  SECTION("biased, two layers: the block input is X") { check(Shallow{}); }
  SECTION("biased, four layers") { check(sf::BiasedMlp<double, sf::Tanh, 3, 4, 5, 6, 2>{}); }

  const Deep net({5, 8, 6, 3});
  auto rng = rng_for(0);
  sf::LastLayers<double> wrong = random_block(net, rng);
  wrong.V.resize(6, 7);
  CHECK_THROWS_WITH(sf::with_last_layers(net, sf::random_params(net, rng), wrong),
                    Catch::Contains("block V = W_{L-1} has shape 6x7, expected 6x8"));
}

TEST_CASE("ensemble members are the model with its last two layers replaced", "[ensemble][members]") {
  const Deep net({5, 8, 6, 3});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Deep::Params theta = sf::random_params(net, rng, 0.5);
    sf::LastLayersEnsemble<Deep> e(net, theta);
    for (int j = 0; j < 4; ++j) e.add_member(random_block(net, rng));
    const Matrix x = uniform_inputs(rng, 5, 11);
    const std::vector<int> y = random_labels(rng, 3, 11);
    const Matrix a = e.block_inputs(x);
    const sf::PredictionMatrix p = e.member_predictions(x);
    const sf::EnsembleEvaluation ev = e.evaluate(x, y);
    for (sf::Index j = 0; j < e.size(); ++j) {
      const Matrix f = net.forward(e.member_params(j), x);
      CHECK(st::relative_error(e.member_outputs(j, a), f) <= 1e-14);
      const std::vector<int> c = sf::predicted_classes(f);
      for (sf::Index i = 0; i < 11; ++i) {
        CHECK(p(j, i) == c[static_cast<std::size_t>(i)]);
        CHECK(ev.predictions(j, i) == c[static_cast<std::size_t>(i)]);
      }
      // A member's own loss is its softmax cross-entropy.
      const double ce = sf::SoftmaxCrossEntropy{}.value(f, sf::one_hot_targets<double>(y, 3));
      CHECK(st::relative_error(ev.member_loss(j), ce) <= 1e-13);
    }
    CHECK(e.predict(x) == sf::majority_vote(p, 3));
    CHECK(ev.vote() == e.predict(x));
    // The base evaluation is the trained model alone.
    const sf::EnsembleEvaluation base = e.evaluate_base(x, y);
    CHECK(base.members() == 1);
    CHECK(base.vote() == sf::predicted_classes(net.forward(theta, x)));
    CHECK(st::relative_error(base.loss(), sf::Classifier<Deep>(net, theta).loss(x, y)) <= 1e-13);
  }
}

TEST_CASE("the ensemble loss is the cross-entropy of the averaged predictive distribution", "[ensemble][loss]") {
  const Deep net({5, 8, 6, 4});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    sf::LastLayersEnsemble<Deep> e(net, sf::random_params(net, rng, 0.5));
    for (int j = 0; j < 6; ++j) e.add_member(random_block(net, rng));
    const Matrix x = uniform_inputs(rng, 5, 13);
    const std::vector<int> y = random_labels(rng, 4, 13);
    const sf::EnsembleEvaluation ev = e.evaluate(x, y);
    const Matrix a = e.block_inputs(x);
    for (sf::Index n = 1; n <= 6; ++n) {
      // −(1/k) Σ_i log((1/n) Σ_j softmax(F_j(x_i))_{y_i}), computed directly from probabilities.
      double direct = 0;
      for (sf::Index i = 0; i < 13; ++i) {
        double p = 0;
        for (sf::Index j = 0; j < n; ++j) {
          const Eigen::VectorXd f = e.member_outputs(j, a.col(i));
          p += std::exp(f(y[static_cast<std::size_t>(i)])) / f.array().exp().sum();
        }
        direct -= std::log(p / static_cast<double>(n));
      }
      direct /= 13;
      INFO("trial " << trial << ", " << n << " members");
      CHECK(st::relative_error(ev.loss(n), direct) <= 1e-12);
      // Jensen: −log of a mean is at most the mean of −log, so averaging distributions never
      // costs more than the members' mean loss.
      CHECK(ev.loss(n) <= ev.mean_member_loss(n) * (1 + 1e-14));
    }
    CHECK(st::relative_error(ev.loss(1), ev.member_loss(0)) <= 1e-14);
  }
}

TEST_CASE("the averaged-logit network outputs the members' mean logits and its input gradient is the "
          "gradient of their cross-entropy", "[ensemble][attack-gradient]") {
  const auto check = [](const auto& net) {
    using Net = std::remove_cvref_t<decltype(net)>;
    for (int trial = 0; trial < 10; ++trial) {
      auto rng = rng_for(trial);
      sf::LastLayersEnsemble<Net> e(net, sf::random_params(net, rng, 0.5));
      for (int j = 0; j < 5; ++j) e.add_member(random_block(net, rng));
      const Matrix x = uniform_inputs(rng, net.input_size(), 7);
      const std::vector<int> y = random_labels(rng, static_cast<int>(net.output_size()), 7);
      const auto stacked = e.averaged_logit_classifier();
      CHECK(stacked.model().width(Net::depth - 1) == 5 * net.width(Net::depth - 1));
      CHECK(st::relative_error(stacked.logits(x), e.averaged_logits(x)) <= 1e-14);
      // Central differences of the cross-entropy of the averaged logits, computed from the members.
      const Matrix g = e.loss_input_gradient(x, y);
      Matrix fd(x.rows(), x.cols());
      const double h = 1e-5;
      for (sf::Index i = 0; i < x.size(); ++i) {
        Matrix up = x, down = x;
        up(i) += h;
        down(i) -= h;
        fd(i) = (averaged_logit_loss(e, up, y) - averaged_logit_loss(e, down, y)) / (2 * h);
      }
      INFO("trial " << trial);
      CHECK(st::relative_error(g, fd) <= 1e-7);
    }
  };
  SECTION("biased, three layers") { check(Smooth({5, 8, 6, 3})); }
  SECTION("no biases, fixed widths") { check(SmoothFixed{}); }
  SECTION("two layers") { check(SmoothShallow{}); }

  // An ensemble of copies of the model attacks exactly like the model.
  const Deep net({5, 8, 6, 3});
  auto rng = rng_for(99);
  const Deep::Params theta = sf::random_params(net, rng, 0.5);
  sf::LastLayersEnsemble<Deep> copies(net, theta);
  for (int j = 0; j < 3; ++j) copies.add_member(copies.base_block());
  const Matrix x = uniform_inputs(rng, 5, 6);
  const std::vector<int> y = random_labels(rng, 3, 6);
  CHECK(st::relative_error(copies.loss_input_gradient(x, y), sf::Classifier<Deep>(net, theta).loss_input_gradient(x, y)) <=
        1e-13);
}

TEST_CASE("the classifier's input gradient is the derivative of its cross-entropy", "[ensemble][classifier]") {
  const Smooth net({6, 9, 5, 4});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const sf::Classifier<Smooth> c(net, sf::random_params(net, rng, 0.5));
    const Matrix x = uniform_inputs(rng, 6, 5);
    const std::vector<int> y = random_labels(rng, 4, 5);
    const Matrix g = c.loss_input_gradient(x, y);
    // Inputs lie in [0, 1], so the step is 1e-5 for every entry.
    const Matrix fd = st::finite_difference_gradient([&](const Matrix& in) { return c.loss(in, y); }, x, 1e-5);
    CHECK(st::relative_error(g, fd) <= 1e-7);
  }
  CHECK_THROWS_WITH(sf::one_hot_targets<double>({0, 4}, 4), Catch::Contains("label 4 of sample 1 is outside the classes 0…3"));
}

TEST_CASE("an attack of radius 0 changes nothing", "[ensemble][attack]") {
  const Deep net({6, 9, 5, 4});
  auto rng = rng_for(0);
  const sf::Classifier<Deep> c(net, sf::random_params(net, rng, 0.5));
  const Matrix x = uniform_inputs(rng, 6, 20);
  const std::vector<int> y = random_labels(rng, 4, 20);
  CHECK(sf::fgsm(c, x, y, 0.0) == x);
  CHECK(sf::pgd(c, x, y, sf::PgdOptions{.radius = 0.0, .step = 0.1, .steps = 5}) == x);
  CHECK(sf::pgd(c, x, y, sf::PgdOptions{.radius = 0.0, .step = 0.1, .steps = 5, .random_start = true}, {}, rng) == x);
  // A step of size 0 also stays put.
  CHECK(sf::pgd(c, x, y, sf::PgdOptions{.radius = 0.3, .step = 0.0, .steps = 5}) == x);
  CHECK_THROWS_AS(sf::fgsm(c, x, y, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(sf::fgsm(c, Matrix(x.array() + 1.0), y, 0.1), std::invalid_argument);  // outside the box
  CHECK_THROWS_AS(sf::pgd(c, x, y, sf::PgdOptions{.radius = 0.1, .step = 0.1, .steps = 5, .random_start = true}),
                  std::invalid_argument);
}

TEST_CASE("FGSM maximises the linearised loss over the ball within the box", "[ensemble][attack]") {
  const Deep net({6, 9, 5, 4});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const sf::Classifier<Deep> c(net, sf::random_params(net, rng, 0.5));
    const Matrix x = uniform_inputs(rng, 6, 20);
    const std::vector<int> y = random_labels(rng, 4, 20);
    const double r = 0.05 + 0.3 * trial / 10.0;
    const Matrix adv = sf::fgsm(c, x, y, r);
    const Matrix g = c.loss_input_gradient(x, y);
    const Matrix delta = adv - x;
    CHECK(delta.lpNorm<Eigen::Infinity>() <= r * (1 + 1e-15));
    CHECK(adv.minCoeff() >= 0.0);
    CHECK(adv.maxCoeff() <= 1.0);
    // Every feasible δ (‖δ‖∞ ≤ r, x + δ in the box) has ⟨g, δ⟩ ≤ ⟨g, δ_FGSM⟩.
    const double best = (g.array() * delta.array()).sum();
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (int s = 0; s < 200; ++s) {
      Matrix d(x.rows(), x.cols());
      for (sf::Index i = 0; i < d.size(); ++i)
        d(i) = std::clamp(x(i) + r * (s % 2 ? u(rng) : (u(rng) > 0 ? 1.0 : -1.0)), 0.0, 1.0) - x(i);
      CHECK((g.array() * d.array()).sum() <= best * (1 + 1e-12) + 1e-300);
    }
    // To first order the loss rises by ⟨g, δ⟩ (g is the gradient of the batch mean).
    const Matrix x_mid = x.array().max(0.1).min(0.9).matrix();  // away from the box so nothing clips
    const double small = 1e-6;
    const Matrix adv_small = sf::fgsm(c, x_mid, y, small);
    const Matrix g_mid = c.loss_input_gradient(x_mid, y);
    const double rise = c.loss(adv_small, y) - c.loss(x_mid, y);
    CHECK(st::relative_error(rise, small * g_mid.lpNorm<1>()) <= 1e-4);
  }
}

TEST_CASE("PGD stays in the ball and the box; one full step from X is FGSM", "[ensemble][attack]") {
  const Deep net({6, 9, 5, 4});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const sf::Classifier<Deep> c(net, sf::random_params(net, rng, 0.5));
    const Matrix x = uniform_inputs(rng, 6, 20);
    const std::vector<int> y = random_labels(rng, 4, 20);
    const double r = 0.2;
    CHECK(sf::pgd(c, x, y, sf::PgdOptions{.radius = r, .step = r, .steps = 1}) == sf::fgsm(c, x, y, r));
    for (bool random_start : {false, true}) {
      const sf::PgdOptions o{.radius = r, .step = 0.07, .steps = 8, .random_start = random_start};
      const Matrix adv = sf::pgd(c, x, y, o, {}, rng);
      CHECK((adv - x).lpNorm<Eigen::Infinity>() <= r * (1 + 1e-15));
      CHECK(adv.minCoeff() >= 0.0);
      CHECK(adv.maxCoeff() <= 1.0);
    }
    // Small steps ascend: with α ≪ r every step raises the loss to first order.
    const Matrix x_mid = x.array().max(0.3).min(0.7).matrix();
    const double clean = c.loss(x_mid, y);
    double previous = clean;
    for (int steps = 1; steps <= 4; ++steps) {
      const double l = c.loss(sf::pgd(c, x_mid, y, sf::PgdOptions{.radius = 0.2, .step = 1e-5, .steps = steps}), y);
      CHECK(l > previous);
      previous = l;
    }
  }
}

TEST_CASE("attacking in chunks equals attacking the whole batch", "[ensemble][attack]") {
  const Deep net({6, 9, 5, 4});
  auto rng = rng_for(0);
  const sf::Classifier<Deep> c(net, sf::random_params(net, rng, 0.5));
  const Matrix x = uniform_inputs(rng, 6, 23);
  const std::vector<int> y = random_labels(rng, 4, 23);
  const auto attack = [&](const Matrix& xc, const std::vector<int>& yc) { return sf::fgsm(c, xc, yc, 0.1); };
  CHECK(sf::attack_in_chunks(x, y, 5, attack) == sf::fgsm(c, x, y, 0.1));
  CHECK(sf::attack_in_chunks(x, y, 100, attack) == sf::fgsm(c, x, y, 0.1));
}

TEST_CASE("the member-wise network gives each member's logits; its loss is the ensemble loss and its input "
          "gradient that loss's derivative", "[ensemble][attack-gradient]") {
  const auto check = [](const auto& net) {
    using Net = std::remove_cvref_t<decltype(net)>;
    const sf::Index m = net.output_size();
    for (int trial = 0; trial < 10; ++trial) {
      auto rng = rng_for(trial);
      sf::LastLayersEnsemble<Net> e(net, sf::random_params(net, rng, 0.5));
      for (int j = 0; j < 4; ++j) e.add_member(random_block(net, rng, 1.0));
      const Matrix x = uniform_inputs(rng, net.input_size(), 7);
      const std::vector<int> y = random_labels(rng, static_cast<int>(m), 7);
      const auto w = e.memberwise_network();
      CHECK(w.members() == 4);
      CHECK(w.classes() == m);
      const Matrix f = w.outputs(x), a = e.block_inputs(x);
      for (sf::Index j = 0; j < 4; ++j) CHECK(st::relative_error(f.middleRows(m * j, m), e.member_outputs(j, a)) <= 1e-14);
      CHECK(st::relative_error(w.loss(x, y), e.evaluate(x, y).loss()) <= 1e-13);
      const Matrix g = e.loss_input_gradient(x, y, sf::EnsembleSurrogate::averaged_probabilities);
      const Matrix fd = st::finite_difference_gradient([&](const Matrix& in) { return w.loss(in, y); }, x, 1e-5);
      INFO("trial " << trial);
      CHECK(st::relative_error(g, fd) <= 1e-7);
    }
    // With one member the averaged distribution is the member's: the gradient is the cross-entropy's.
    auto rng = rng_for(50);
    const typename Net::Params theta = sf::random_params(net, rng, 0.5);
    sf::LastLayersEnsemble<Net> one(net, theta);
    one.add_member(one.base_block());
    const Matrix x = uniform_inputs(rng, net.input_size(), 6);
    const std::vector<int> y = random_labels(rng, static_cast<int>(m), 6);
    CHECK(st::relative_error(one.loss_input_gradient(x, y, sf::EnsembleSurrogate::averaged_probabilities),
                             sf::Classifier<Net>(net, theta).loss_input_gradient(x, y)) <= 1e-13);
  };
  SECTION("biased, three layers") { check(Smooth({5, 8, 6, 3})); }
  SECTION("no biases, fixed widths") { check(SmoothFixed{}); }
  SECTION("two layers: the hidden network is one layer") { check(SmoothShallow{}); }
}

// ---------------------------------------------------------------------------------------------
// The transformations of appendix H.

namespace {

// A model, parameters, and a pool of block inputs with N(0, 1) entries: every hidden unit then sees
// pre-activations of both signs. (Were a unit's sign the same on all data, σ would act on H as a
// fixed diagonal matrix D and the action would be the linear one, g ↦ (U D g⁻¹ D⁻¹, gV): an exact
// symmetry on all such data.)
struct Trained {
  Deep net{{6, 10, 5, 3}};
  Deep::Params theta;
  Matrix pool;
  explicit Trained(std::mt19937_64& rng, sf::Index batches = 4) {
    theta = sf::random_params(net, rng, 0.7);
    pool = sf::test::normal<Matrix>(rng, 10, batches * 5);
  }
};

}  // namespace

TEST_CASE("group elements: I + εM and exp(εM) start at I with velocity M", "[ensemble][transforms]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Matrix m = sf::random_direction<double>(7, rng);
    const Matrix identity = Matrix::Identity(7, 7);
    for (auto curve : {sf::GroupCurve::linear, sf::GroupCurve::exponential}) {
      CHECK(sf::group_element(m, 0.0, curve) == identity);
      const double h = 1e-5;
      const Matrix velocity = (sf::group_element(m, h, curve) - sf::group_element(m, -h, curve)) / (2 * h);
      CHECK(st::relative_error(velocity, m) <= 1e-9);
    }
    CHECK(sf::group_element(m, 0.3, sf::GroupCurve::linear) == identity + 0.3 * m);
    // exp(εM) exp(−εM) = I.
    CHECK(st::relative_error(Matrix(sf::group_element(m, 2.0, sf::GroupCurve::exponential) *
                                    sf::group_element(m, -2.0, sf::GroupCurve::exponential)),
                             identity) <= 1e-12);
  }
  // Entries N(0, 1/h): the mean square over many draws is 1/h.
  auto rng = rng_for(0);
  double sum = 0;
  for (int i = 0; i < 200; ++i) sum += sf::random_direction<double>(16, rng).squaredNorm();
  CHECK(std::abs(sum / (200 * 256) - 1.0 / 16) <= 0.05 / 16);
}

TEST_CASE("P_eps = (I + (eps/2)(I + S))/(1 + eps) is doubly stochastic, I at 0, (I + S)/2 in the limit",
          "[ensemble][transforms]") {
  Matrix s = Matrix::Zero(4, 4);
  s(0, 1) = s(1, 0) = s(2, 3) = s(3, 2) = 1;  // two 2-cycles: (I + S)/2 is singular
  CHECK(sf::interpolated_permutation(s, 0.0) == Matrix::Identity(4, 4));
  for (double eps : {0.1, 1.0, 20.0, 1e6}) {
    const Matrix p = sf::interpolated_permutation(s, eps);
    CHECK((p.rowwise().sum().array() - 1).abs().maxCoeff() <= 1e-15);
    CHECK((p.colwise().sum().array() - 1).abs().maxCoeff() <= 1e-15);
    // Smallest eigenvalue 1/(1 + ε) (from the eigenvalue −1 of S): invertible, with condition 1 + ε.
    const Eigen::VectorXd ev = Eigen::SelfAdjointEigenSolver<Matrix>(p).eigenvalues();
    CHECK(std::abs(ev.minCoeff() - 1 / (1 + eps)) <= 1e-12);
  }
  CHECK(st::relative_error(sf::interpolated_permutation(s, 1e12), Matrix(0.5 * (Matrix::Identity(4, 4) + s))) <= 1e-11);
}

TEST_CASE("a group member reproduces the model on its own batch and departs from it to first order in eps "
          "elsewhere", "[ensemble][transforms]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Trained t(rng);
    const Matrix outside = sf::test::normal<Matrix>(rng, 10, 30);
    const sf::LastLayers<double> base = sf::last_layers(t.net, t.theta);
    for (auto curve : {sf::GroupCurve::linear, sf::GroupCurve::exponential}) {
      std::mt19937_64 build(trial);
      sf::EnsembleDiagnostics diagnostics;
      const auto e = sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{sf::EnsembleKind::group, curve, 0.5, 6},
                                       build, &diagnostics);
      REQUIRE(e.size() == 6);
      CHECK(diagnostics.pseudoinverses == 6);
      for (sf::Index j = 0; j < 6; ++j) {
        // Member j's batch is columns 5j … 5j + 4 of the pool, cyclically (h = 5, 20 columns).
        Matrix batch(10, 5);
        for (sf::Index c = 0; c < 5; ++c) batch.col(c) = t.pool.col((5 * j + c) % 20);
        INFO("trial " << trial << ", member " << j << ", condition of sigma(gH) " << diagnostics.max_condition);
        CHECK(st::relative_error(e.member_outputs(j, batch), base.outputs(t.net.activation(), batch)) <=
              1e-15 * diagnostics.max_condition + 1e-13);
        CHECK(st::relative_error(e.member_outputs(j, outside), base.outputs(t.net.activation(), outside)) > 1e-3);
      }
    }
    // First order in ε: halving ε halves the change of the outputs off the batch.
    std::vector<double> change;
    for (double eps : {2e-6, 1e-6}) {
      std::mt19937_64 build(trial);
      const auto e = sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{sf::EnsembleKind::group,
                                                                                   sf::GroupCurve::linear, eps, 1}, build);
      change.push_back((e.member_outputs(0, outside) - base.outputs(t.net.activation(), outside)).norm());
    }
    CHECK(std::abs(change[0] / change[1] - 2.0) <= 0.02);
  }
}

TEST_CASE("at eps = 0 every kind but the shuffled one is the trained model", "[ensemble][transforms]") {
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Trained t(rng);
    const Matrix x = uniform_inputs(rng, 6, 40);
    const std::vector<int> single = sf::predicted_classes(t.net.forward(t.theta, x));
    for (auto kind : {sf::EnsembleKind::group, sf::EnsembleKind::inverse, sf::EnsembleKind::random_diagonal,
                      sf::EnsembleKind::interpolated_permutation, sf::EnsembleKind::shuffled}) {
      std::mt19937_64 build(trial);
      sf::EnsembleDiagnostics diagnostics;
      const auto e = sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{kind, sf::GroupCurve::linear, 0.0, 5},
                                       build, &diagnostics);
      const sf::PredictionMatrix p = e.member_predictions(x);
      INFO("trial " << trial << ", " << sf::ensemble_kind_name(kind));
      for (sf::Index j = 0; j < 5; ++j) {
        CHECK(e.member(j).V == e.base_block().V);  // g = I exactly
        const double u_error = st::relative_error(e.member(j).U, e.base_block().U);
        if (kind == sf::EnsembleKind::shuffled) {
          CHECK(u_error > 0.1);  // U P Q: π(I, H) = I, shuffled into a permutation
        } else if (kind == sf::EnsembleKind::group) {
          CHECK(u_error <= 1e-15 * diagnostics.max_condition + 1e-13);  // U σ(H)σ(H)⁺ = U
        } else {
          CHECK(u_error == 0.0);
        }
        if (kind != sf::EnsembleKind::shuffled)
          for (sf::Index i = 0; i < 40; ++i) CHECK(p(j, i) == single[static_cast<std::size_t>(i)]);
      }
    }
  }
}

TEST_CASE("each transformation is what appendix H defines", "[ensemble][transforms]") {
  // With U = I (m = h) the new U is the matrix the kind multiplies U by: π, π', g⁻¹, I + εD or P⁻¹.
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const Trained t(rng);
    sf::LastLayers<double> block = sf::last_layers(t.net, t.theta);
    block.U = Matrix::Identity(5, 5);
    block.c = Eigen::VectorXd::Zero(5);
    const Matrix batch = t.pool.leftCols(5);
    const double eps = 0.4;
    const Matrix g = sf::group_element(sf::random_direction<double>(5, rng), eps, sf::GroupCurve::linear);
    const sf::LeakyReLU act = t.net.activation();
    const auto transform = [&](sf::EnsembleKind kind, std::uint64_t seed) {
      std::mt19937_64 r(seed);
      return sf::transform_last_layers(block, act, kind, g, eps, batch, r);
    };
    const Matrix pi = sf::pseudoinverse_representation(act, g, block.hidden_preactivations(batch));
    INFO("trial " << trial);

    const sf::LastLayers<double> group = transform(sf::EnsembleKind::group, 1);
    CHECK(group.V == Matrix(g * block.V));
    CHECK(group.b == Eigen::VectorXd(g * block.b));
    CHECK(group.U == pi);
    CHECK(group.c == block.c);

    // Shuffled: P π Q, the same entries and the same singular values, rows and columns reordered.
    const Matrix shuffled = transform(sf::EnsembleKind::shuffled, 2).U;
    std::vector<double> a(pi.data(), pi.data() + pi.size()), b(shuffled.data(), shuffled.data() + shuffled.size());
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    CHECK(a == b);
    CHECK(st::relative_error(Eigen::JacobiSVD<Matrix>(shuffled).singularValues(),
                             Eigen::JacobiSVD<Matrix>(pi).singularValues()) <= 1e-13);
    CHECK(shuffled != pi);

    CHECK(st::relative_error(Matrix(transform(sf::EnsembleKind::inverse, 3).U * g), Matrix(Matrix::Identity(5, 5))) <= 1e-13);

    // Random diagonal: I + εD with D_ii uniform in [0, 1).
    const Matrix diagonal = transform(sf::EnsembleKind::random_diagonal, 4).U;
    CHECK(Matrix(diagonal.diagonal().asDiagonal()) == diagonal);
    CHECK(diagonal.diagonal().minCoeff() >= 1.0);
    CHECK(diagonal.diagonal().maxCoeff() < 1.0 + eps);

    // Interpolated permutation: V ↦ P V, U ↦ U P⁻¹ with (1 + ε)P − (1 + ε/2)I = (ε/2)S, S a permutation.
    const sf::LastLayers<double> interp = transform(sf::EnsembleKind::interpolated_permutation, 5);
    const Matrix p = interp.U.inverse();
    CHECK(st::relative_error(interp.V, Matrix(p * block.V)) <= 1e-13);
    const Matrix s_matrix = ((1 + eps) * p - (1 + eps / 2) * Matrix::Identity(5, 5)) / (eps / 2);
    CHECK((s_matrix.array() * (s_matrix.array() - 1)).abs().maxCoeff() <= 1e-12);  // entries 0 or 1
    CHECK((s_matrix.rowwise().sum().array() - 1).abs().maxCoeff() <= 1e-12);
    CHECK((s_matrix.colwise().sum().array() - 1).abs().maxCoeff() <= 1e-12);
  }
}

TEST_CASE("members of every kind share the directions M_j for one generator state", "[ensemble][transforms]") {
  auto rng = rng_for(0);
  const Trained t(rng);
  const auto build = [&](sf::EnsembleKind kind, double eps) {
    std::mt19937_64 r(7);
    return sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{kind, sf::GroupCurve::linear, eps, 3}, r);
  };
  for (sf::Index j = 0; j < 3; ++j) {
    const Matrix v = build(sf::EnsembleKind::group, 0.3).member(j).V;
    CHECK(build(sf::EnsembleKind::inverse, 0.3).member(j).V == v);
    CHECK(build(sf::EnsembleKind::random_diagonal, 0.3).member(j).V == v);
    CHECK(build(sf::EnsembleKind::shuffled, 0.3).member(j).V == v);
    CHECK(build(sf::EnsembleKind::group, 0.3).member(j).U == build(sf::EnsembleKind::group, 0.3).member(j).U);
    // g_j = I + εM_j: V_j − V is linear in ε.
    const Matrix base_v = sf::last_layers(t.net, t.theta).V;
    CHECK(st::relative_error(Matrix(build(sf::EnsembleKind::inverse, 0.6).member(j).V - base_v), Matrix(2 * (v - base_v))) <=
          1e-13);
  }
  CHECK(build(sf::EnsembleKind::group, 0.3).member(0).V != build(sf::EnsembleKind::group, 0.3).member(1).V);
  std::mt19937_64 r(7);
  CHECK_THROWS_AS(sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{sf::EnsembleKind::group, sf::GroupCurve::linear, 0.3, 0}, r),
                  std::invalid_argument);
  CHECK_THROWS_AS(sf::make_ensemble(t.net, t.theta, t.pool, sf::EnsembleRecipe{sf::EnsembleKind::group, sf::GroupCurve::linear, -1.0, 2}, r),
                  std::invalid_argument);
  CHECK_THROWS_WITH(sf::make_ensemble(t.net, t.theta, Matrix(t.pool.topRows(9)),
                                      sf::EnsembleRecipe{sf::EnsembleKind::group, sf::GroupCurve::linear, 0.3, 2}, r),
                    Catch::Contains("pool of block inputs has shape 9x20, expected 10 rows"));
}

// ---------------------------------------------------------------------------------------------
// On a trained classifier.

namespace {

// Three classes of points in the unit box [0, 1]^8, around separated centres, and a network trained on
// them with Adam: 8 -> 16 -> 6 -> 3, LeakyReLU, softmax cross-entropy.
struct Blobs {
  Deep net{{8, 16, 6, 3}, sf::LeakyReLU{0.1}};
  Deep::Params theta;
  Matrix train_x, test_x;
  std::vector<int> train_y, test_y;

  explicit Blobs(std::mt19937_64& rng) {
    // Centres 0.3 + 0.4·(a 0/1 pattern); any two patterns differ in four coordinates.
    Matrix patterns(8, 3);
    patterns << 1, 0, 1,  //
        1, 0, 0,          //
        1, 0, 1,          //
        1, 0, 0,          //
        0, 1, 1,          //
        0, 1, 0,          //
        0, 1, 1,          //
        0, 1, 0;
    const Matrix centres = (0.3 + 0.4 * patterns.array()).matrix();
    const auto draw = [&](sf::Index k, Matrix& x, std::vector<int>& y) {
      y = random_labels(rng, 3, k);
      x = (centres(Eigen::all, y) + sf::test::normal<Matrix>(rng, 8, k, 0.1)).cwiseMax(0.0).cwiseMin(1.0);
    };
    draw(300, train_x, train_y);
    draw(300, test_x, test_y);
    theta = sf::random_params(net, rng, 0.4);
    const sf::Objective objective(net, sf::SoftmaxCrossEntropy{}, train_x, sf::one_hot_targets<double>(train_y, 3));
    const sf::Adam adam{.learning_rate = 1e-2};
    auto state = adam.start(objective, theta);
    sf::run(adam, state, objective, theta, sf::Stopping{.max_steps = 400});
  }
};

}  // namespace

TEST_CASE("on a trained classifier: eps -> 0 recovers its predictions, FGSM accuracy falls with the radius",
          "[ensemble][trained]") {
  for (int trial = 0; trial < 2; ++trial) {
    auto rng = rng_for(trial);
    const Blobs b(rng);
    const sf::Classifier<Deep> single(b.net, b.theta);
    const std::vector<int> predictions = single.predict(b.test_x);
    const double clean = sf::accuracy(predictions, b.test_y);
    INFO("trial " << trial << ", clean accuracy " << clean);
    REQUIRE(clean >= 0.9);
    const Matrix pool = sf::block_inputs(b.net, b.theta, b.train_x);

    // The group ensemble at ε = 0 predicts exactly what the model predicts; at ε = 1e-4 its vote still does.
    for (double eps : {0.0, 1e-4}) {
      std::mt19937_64 build(trial);
      const auto e = sf::make_ensemble(b.net, b.theta, pool, sf::EnsembleRecipe{sf::EnsembleKind::group,
                                                                               sf::GroupCurve::linear, eps, 15}, build);
      CHECK(e.predict(b.test_x) == predictions);
    }

    std::mt19937_64 build(trial);
    const auto ensemble = sf::make_ensemble(b.net, b.theta, pool, sf::EnsembleRecipe{sf::EnsembleKind::group,
                                                                                    sf::GroupCurve::linear, 0.1, 15}, build);
    const auto averaged = ensemble.averaged_logit_classifier();
    const std::vector<double> radii = {0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3};
    std::vector<double> single_accuracy, ensemble_accuracy;
    for (double r : radii) {
      single_accuracy.push_back(sf::accuracy(single.predict(sf::fgsm(single, b.test_x, b.test_y, r)), b.test_y));
      ensemble_accuracy.push_back(sf::accuracy(ensemble.predict(sf::fgsm(averaged, b.test_x, b.test_y, r)), b.test_y));
    }
    // Radius 0 is the clean accuracy; no step up in the radius raises accuracy by more than one
    // sample in a hundred; the largest radius costs accuracy. (Far beyond the margins, at radii like
    // 0.5 in the unit box, FGSM's single step overshoots and accuracy can rise again.)
    CHECK(single_accuracy.front() == clean);
    CHECK(ensemble_accuracy.front() == sf::accuracy(ensemble.predict(b.test_x), b.test_y));
    for (const auto& acc : {single_accuracy, ensemble_accuracy}) {
      INFO("FGSM accuracies " << Eigen::Map<const Eigen::RowVectorXd>(acc.data(), static_cast<sf::Index>(acc.size())));
      for (std::size_t i = 1; i < acc.size(); ++i) CHECK(acc[i] <= acc[i - 1] + 0.01);
      CHECK(acc.back() < acc.front() - 0.05);
    }
  }
}
