// Specification of the ensemble module: the last two layers of a network as a block, ensembles of
// blocks with their majority vote, the cross-entropy of their averaged predictive distribution, the
// averaged-logit network whose input gradient the attacks follow, FGSM and PGD in the ℓ∞ ball.
#include "support.hpp"

#include <symflow/ensemble.hpp>

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
sf::LastLayers<double> random_block(const Model& model, std::mt19937_64& rng) {
  typename Model::Params theta = sf::random_params(model, rng, 0.5);
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
      const double h = 1e-6;
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
  SECTION("biased, three layers") { check(Deep({5, 8, 6, 3})); }
  SECTION("no biases, fixed widths") { check(FixedDeep{}); }
  SECTION("two layers") { check(Shallow{}); }

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
  const Deep net({6, 9, 5, 4});
  for (int trial = 0; trial < 10; ++trial) {
    auto rng = rng_for(trial);
    const sf::Classifier<Deep> c(net, sf::random_params(net, rng, 0.5));
    const Matrix x = uniform_inputs(rng, 6, 5);
    const std::vector<int> y = random_labels(rng, 4, 5);
    const Matrix g = c.loss_input_gradient(x, y);
    Matrix fd(x.rows(), x.cols());
    for (sf::Index i = 0; i < x.size(); ++i) {
      Matrix up = x, down = x;
      up(i) += 1e-6;
      down(i) -= 1e-6;
      fd(i) = (c.loss(up, y) - c.loss(down, y)) / 2e-6;
    }
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
