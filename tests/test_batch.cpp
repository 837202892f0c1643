// Specification of lockstep batches: W independent runs in SIMD lanes follow, lane by lane, the
// runs that symflow::run makes one at a time (θ and conserved quantity at every step to 1e-13
// relative in double, the loss to the rounding of the predictions); a run that diverges or
// converges stops alone, with the reason and step its single run reports; run_many returns every
// run in item order for every thread count.
#include "support.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <symflow/conserved/batch_quantity.hpp>
#include <symflow/flow/batch_run.hpp>

namespace sf = symflow;
namespace st = symflow::test;

namespace {

constexpr int n = 10, h = 50, m = 5;

template <class Act, class S = double>
struct Paper {
  using Net = sf::TwoLayer<S, Act, n, h, m>;
  using X = Eigen::Matrix<S, n, n>;
  using Y = Eigen::Matrix<S, m, n>;
  using Obj = sf::Objective<Net, sf::MeanSquaredError, n>;
  static constexpr int W = sf::native_lanes<S>;
};

/// The conserved quantity each activation's sweep records: Tr Q (identity), eq. (48) summed.
template <class Net>
auto recorded_quantity(const Net& net) {
  if constexpr (std::is_same_v<typename Net::Activation, sf::Identity>) return sf::LayerImbalanceTrace<Net>(net);
  else return sf::summed(sf::ElementwiseQuantity<Net>(net));
}

/// Largest |a_i − b_i| / max(max_i |b_i|, tiny).
template <class A, class B>
double relative_gap(const A& a, const B& b) {
  const double scale = std::max(b.template cast<double>().cwiseAbs().maxCoeff(), 1e-300);
  return (a.template cast<double>() - b.template cast<double>()).cwiseAbs().maxCoeff() / scale;
}

/// One run's record: loss and Q at every step (and ‖F‖_F of the predictions), final θ and status.
template <class Net>
struct Record {
  std::vector<double> loss, q, q_scale, f_norm;
  typename Net::Params theta;
  sf::RunStatus<typename Net::Scalar> status;
};

}  // namespace

TEMPLATE_TEST_CASE("each lane follows its single run over 1000 steps: θ and Q to 1e-13, the loss to 16 roundings of F",
                   "[batch][trajectory]", sf::Identity, sf::ReLU, sf::Tanh, sf::Sigmoid) {
  using P = Paper<TestType>;
  using Net = typename P::Net;
  constexpr int W = P::W;
  const Net net;
  const auto quantity = recorded_quantity(net);
  const sf::ElementwiseQuantity<Net> terms(net);
  const sf::Stopping stop{.max_steps = 1000};
  auto rng = st::rng_for(0);  // one draw of W runs, each with its own data, start and learning rate
  std::vector<typename P::Obj> objectives;
  std::vector<typename Net::Params> starts;
  std::array<sf::GradientDescent, W> methods;
  for (int l = 0; l < W; ++l) {
    objectives.emplace_back(net, sf::MeanSquaredError{}, P::X::Identity(), st::normal<typename P::Y>(rng));
    starts.push_back(sf::random_params(net, rng, 0.1 + 0.05 * l));
    methods[static_cast<std::size_t>(l)] = sf::GradientDescent{0.01 * (1 + l % 4)};
  }
  // One at a time.
  std::vector<Record<Net>> single(W);
  for (int l = 0; l < W; ++l) {
    auto& r = single[static_cast<std::size_t>(l)];
    r.theta = starts[static_cast<std::size_t>(l)];
    r.status = sf::run(methods[static_cast<std::size_t>(l)], objectives[static_cast<std::size_t>(l)], r.theta, stop,
                       [&](const sf::Snapshot<typename Net::Params>& s) {
                         r.loss.push_back(s.loss);
                         r.q.push_back(quantity.value(s.theta));
                         r.q_scale.push_back(terms.outgoing(s.theta) + std::abs(terms.incoming(s.theta)));
                         r.f_norm.push_back(net.forward(s.theta, P::X::Identity()).norm());
                       });
  }
  // In lanes.
  const sf::BatchObjective<typename P::Obj, W> batch(objectives);
  sf::BatchParams<Net, W> theta(net);
  for (int l = 0; l < W; ++l) theta.set_lane(l, starts[static_cast<std::size_t>(l)]);
  std::vector<Record<Net>> lanes(W);
  const auto status = sf::run_batch(methods, batch, theta, stop, [&](const sf::BatchSnapshot<Net, W>& s) {
    const auto q = sf::lane_values(quantity, s.theta);
    for (int l = 0; l < W; ++l) {
      lanes[static_cast<std::size_t>(l)].loss.push_back(s.loss[l]);
      lanes[static_cast<std::size_t>(l)].q.push_back(q[static_cast<std::size_t>(l)]);
    }
  });
  // The loss L = ‖Y − F‖²/N (N = m·k entries) of a lane and of its run differ by the rounding of
  // F (the products summed in other orders, θ itself within a few roundings): a perturbation δF
  // moves L by (2/N)⟨Y − F, δF⟩ + ‖δF‖²/N, and ‖δF‖ ≤ c·ε‖F‖, so
  //   |ΔL| ≤ c·ε·((2/N)‖F‖‖Y − F‖ + L),
  // the last term for the rounding of L's own sum. Near interpolation Y − F is a small residual
  // and L its square, so the gap relative to L grows like ‖F‖/‖Y − F‖: relative error of L is the
  // wrong measure there. c = 16: the worst lane needs 3.6 (AVX-512, W = 8, FMAs contracted); a
  // lane started from θ_0(1 + 1e-10), or with its learning rate times 1 + 1e-10, needs 1e5 to 3e5.
  constexpr double loss_roundings = 16;
  constexpr double N = m * n;
  double worst_theta = 0, worst_loss = 0, worst_q = 0;
  for (int l = 0; l < W; ++l) {
    const auto u = static_cast<std::size_t>(l);
    INFO("lane " << l);
    CHECK(status[u].reason == single[u].status.reason);
    CHECK(status[u].step == 1000);
    CHECK(status[u].time == single[u].status.time);
    REQUIRE(lanes[u].loss.size() == single[u].loss.size());
    worst_theta = std::max(worst_theta, relative_gap(theta.lane(l), single[u].theta));
    for (std::size_t t = 0; t < single[u].loss.size(); ++t) {
      const double loss = single[u].loss[t], residual = std::sqrt(N * loss);
      const double unit = std::numeric_limits<double>::epsilon() * (2 / N * single[u].f_norm[t] * residual + loss);
      worst_loss = std::max(worst_loss, std::abs(lanes[u].loss[t] - loss) / unit);
      worst_q = std::max(worst_q, std::abs(lanes[u].q[t] - single[u].q[t]) / single[u].q_scale[t]);
    }
  }
  INFO("worst over the lanes and steps: θ relative gap " << worst_theta << ", loss gap in units of ε((2/N)‖F‖‖Y − F‖ + L) "
                                                             << worst_loss << ", Q relative gap " << worst_q);
  CHECK(worst_theta <= 1e-13);
  CHECK(worst_loss <= loss_roundings);
  CHECK(worst_q <= 1e-13);
}

TEST_CASE("momentum, Nesterov and Adam in lanes follow their single runs over 500 steps to 1e-13", "[batch][methods]") {
  // Each lane its own parameters (learning rate, momentum, Nesterov or not; β₁, β₂, ε, weight
  // decay): θ, loss and time at every step against symflow::run with the same method, ReLU network
  // of the paper's size, double.
  using P = Paper<sf::ReLU>;
  using Net = typename P::Net;
  constexpr int W = P::W;
  const Net net;
  const sf::Stopping stop{.max_steps = 500};
  auto rng = st::rng_for(77);
  std::vector<typename P::Obj> objectives;
  std::vector<typename Net::Params> starts;
  for (int l = 0; l < W; ++l) {
    objectives.emplace_back(net, sf::MeanSquaredError{}, P::X::Identity(), st::normal<typename P::Y>(rng));
    starts.push_back(sf::random_params(net, rng, 0.1 + 0.05 * l));
  }
  const sf::BatchObjective<typename P::Obj, W> batch(objectives);
  const auto compare = [&](const auto& methods, const char* name) {
    std::vector<Record<Net>> single(W), lanes(W);
    std::vector<std::vector<double>> single_time(W), lane_time(W);
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      single[u].theta = starts[u];
      single[u].status = sf::run(methods[u], objectives[u], single[u].theta, stop, [&](const sf::Snapshot<typename Net::Params>& s) {
        single[u].loss.push_back(s.loss);
        single_time[u].push_back(s.time);
      });
    }
    sf::BatchParams<Net, W> theta(net);
    for (int l = 0; l < W; ++l) theta.set_lane(l, starts[static_cast<std::size_t>(l)]);
    const auto status = sf::run_batch(methods, batch, theta, stop, [&](const sf::BatchSnapshot<Net, W>& s) {
      for (int l = 0; l < W; ++l) {
        if (!s.running[static_cast<std::size_t>(l)]) continue;
        lanes[static_cast<std::size_t>(l)].loss.push_back(s.loss[l]);
        lane_time[static_cast<std::size_t>(l)].push_back(s.time[l]);
      }
    });
    double worst_theta = 0, worst_loss = 0, worst_time = 0, moved = 0, smallest = 1;
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      CHECK(status[u].reason == single[u].status.reason);
      CHECK(status[u].step == 500);
      REQUIRE(lanes[u].loss.size() == single[u].loss.size());
      worst_theta = std::max(worst_theta, relative_gap(theta.lane(l), single[u].theta));
      moved = std::max(moved, relative_gap(theta.lane(l), starts[u]));
      for (std::size_t t = 0; t < single[u].loss.size(); ++t) {
        // Relative to the loss (to 1e-8 of the first loss, should it fall below that).
        const double scale = std::max(single[u].loss[t], 1e-8 * single[u].loss[0]);
        worst_loss = std::max(worst_loss, std::abs(lanes[u].loss[t] - single[u].loss[t]) / scale);
        smallest = std::min(smallest, single[u].loss[t] / single[u].loss[0]);
        worst_time = std::max(worst_time, std::abs(lane_time[u][t] - single_time[u][t]) / std::max(single_time[u][t], 1e-300));
      }
    }
    INFO(name << ": worst relative gaps θ " << worst_theta << ", loss " << worst_loss << ", time " << worst_time
         << "; θ moved by " << moved << ", the loss fell to " << smallest << " of its start");
    CHECK(worst_theta <= 1e-13);
    CHECK(worst_loss <= 1e-13);
    CHECK(worst_time <= 1e-15);
    CHECK(moved >= 1e-2);
  };
  std::array<sf::Momentum, W> momentum;
  std::array<sf::Adam, W> adam;
  for (int l = 0; l < W; ++l) {
    const auto u = static_cast<std::size_t>(l);
    momentum[u] = sf::Momentum{.learning_rate = 0.005 * (1 + l % 3), .momentum = 0.5 + 0.05 * l, .nesterov = l % 2 == 1};
    adam[u] = sf::Adam{.learning_rate = 1e-4 * (1 + l % 3), .beta1 = 0.9 - 0.05 * (l % 2), .beta2 = 0.999 - 0.009 * (l % 3),
                       .epsilon = l == 0 ? 1e-6 : 1e-8, .weight_decay = l % 2 == 0 ? 0.0 : 1e-2};
  }
  compare(momentum, "momentum");
  compare(adam, "adam");
}

TEST_CASE("deeper biased networks on general inputs: lanes follow their runs, and float lanes their float runs",
          "[batch][trajectory]") {
  SECTION("double, three layers with biases, X ≠ I, ½‖·‖²") {
    using Net = sf::BiasedMlp<double, sf::Tanh, 4, 6, 5, 3>;
    using Obj = sf::Objective<Net, sf::HalfSquaredError, 7>;
    constexpr int W = sf::native_lanes<double>;
    const Net net;
    auto rng = st::rng_for(0);
    std::vector<Obj> objectives;
    std::vector<Net::Params> thetas;
    for (int l = 0; l < W; ++l) {
      objectives.emplace_back(net, sf::HalfSquaredError{}, st::normal<Eigen::Matrix<double, 4, 7>>(rng),
                              st::normal<Eigen::Matrix<double, 3, 7>>(rng));
      thetas.push_back(sf::random_params(net, rng, 0.5));
    }
    const sf::BatchObjective<Obj, W> batch(objectives);
    CHECK_FALSE(batch.identity_input());
    sf::BatchParams<Net, W> theta(net);
    for (int l = 0; l < W; ++l) theta.set_lane(l, thetas[static_cast<std::size_t>(l)]);
    // One evaluation: L and ∇L of every lane against Objective.
    sf::BatchParams<Net, W> grad(net);
    const auto loss = batch.value_and_gradient(theta, grad);
    for (int l = 0; l < W; ++l) {
      const auto& obj = objectives[static_cast<std::size_t>(l)];
      const Net::Params& p = thetas[static_cast<std::size_t>(l)];
      CHECK(std::abs(loss[l] - obj.value(p)) <= 1e-14 * obj.value(p));
      CHECK(relative_gap(grad.lane(l), obj.gradient(p)) <= 1e-14);
    }
    // 100 steps: on general inputs some draws pass near saddles where the single run itself moves by
    // 1e-4 when θ_0 moves by 1e-15 (measured), so a longer comparison would test the draw, not the code.
    // The lane and its run sum in different orders, a rounding of θ at every step; how far that
    // carries is the run's own sensitivity, measured by the same run from θ_0 moved by 1e-15
    // relative. The gap must be within 1e-13 or within 100 times that sensitivity (a lane with
    // another learning rate or θ_0 by 1e-10 misses both by orders of magnitude).
    const sf::Stopping stop{.max_steps = 100};
    sf::run_batch(sf::GradientDescent{0.01}, batch, theta, stop);
    for (int l = 0; l < W; ++l) {
      const Obj& obj = objectives[static_cast<std::size_t>(l)];
      Net::Params p = thetas[static_cast<std::size_t>(l)];
      Net::Params moved = p.array() * (1 + 1e-15);
      sf::run(sf::GradientDescent{0.01}, obj, p, stop);
      sf::run(sf::GradientDescent{0.01}, obj, moved, stop);
      const double gap = relative_gap(theta.lane(l), p), sensitivity = relative_gap(moved, p);
      INFO("lane " << l << ": relative gap " << gap << ", the run's own sensitivity " << sensitivity);
      CHECK((gap <= 1e-13 || gap <= 100 * sensitivity));
    }
  }
  SECTION("float, the paper's ReLU network: lanes within a few float roundings of their runs") {
    using P = Paper<sf::ReLU, float>;
    using Net = P::Net;
    constexpr int W = P::W;
    const Net net;
    auto rng = st::rng_for(1);
    std::vector<P::Obj> objectives;
    std::vector<Net::Params> thetas;
    for (int l = 0; l < W; ++l) {
      objectives.emplace_back(net, sf::MeanSquaredError{}, P::X::Identity(), st::normal<P::Y>(rng));
      thetas.push_back(sf::random_params(net, rng, 0.1));
    }
    const sf::BatchObjective<P::Obj, W> batch(objectives);
    sf::BatchParams<Net, W> theta(net);
    for (int l = 0; l < W; ++l) theta.set_lane(l, thetas[static_cast<std::size_t>(l)]);
    const sf::Stopping stop{.max_steps = 200};
    sf::run_batch(sf::GradientDescent{0.01}, batch, theta, stop);
    for (int l = 0; l < W; ++l) {
      Net::Params p = thetas[static_cast<std::size_t>(l)];
      sf::run(sf::GradientDescent{0.01}, objectives[static_cast<std::size_t>(l)], p, stop);
      INFO("lane " << l);
      CHECK(relative_gap(theta.lane(l), p) <= 2e-6);
    }
  }
}

TEST_CASE("a lane that diverges or converges stops alone, with its single run's reason, step and θ",
          "[batch][stopping]") {
  using P = Paper<sf::Tanh>;
  using Net = P::Net;
  constexpr int W = P::W;
  static_assert(W >= 2);
  const Net net;
  auto rng = st::rng_for(0);
  std::vector<P::Obj> objectives;
  std::vector<Net::Params> starts;
  std::array<sf::GradientDescent, W> methods;
  for (int l = 0; l < W; ++l) {
    objectives.emplace_back(net, sf::MeanSquaredError{}, P::X::Identity(), st::normal<P::Y>(rng));
    starts.push_back(sf::random_params(net, rng, 0.1));
    methods[static_cast<std::size_t>(l)] = sf::GradientDescent{0.02};
  }
  // Lane 0: a NaN entry at the start. Lane 1: a learning rate far past stability (the loss blows
  // up, or θ overflows). Lane 2 (when there is one): a loss tolerance it reaches early.
  starts[0][17] = std::numeric_limits<double>::quiet_NaN();
  methods[1] = sf::GradientDescent{400.0};
  sf::Stopping stop{.max_steps = 300, .blow_up_factor = 1e3};
  const double tolerance = W > 2 ? 0.9 * objectives[2].value(starts[2]) : -1.0;
  auto single_stop = [&](int l) {
    sf::Stopping s = stop;
    if (l == 2) s.loss_tolerance = tolerance;
    return s;
  };
  const sf::BatchObjective<P::Obj, W> batch(objectives);
  sf::BatchParams<Net, W> theta(net);
  for (int l = 0; l < W; ++l) theta.set_lane(l, starts[static_cast<std::size_t>(l)]);
  std::array<long, W> seen{};
  // The loss tolerance is shared by the lanes; lane 2's own is emulated by an observer that stops it,
  // so the batch is compared with lane 2's single run under its own tolerance below.
  const auto status = sf::run_batch(methods, batch, theta, stop, [&](const sf::BatchSnapshot<Net, W>& s) {
    std::array<bool, W> stop_lanes{};
    for (int l = 0; l < W; ++l) {
      if (!s.running[static_cast<std::size_t>(l)]) continue;
      ++seen[static_cast<std::size_t>(l)];
      if (l == 2 && s.loss[l] <= tolerance) stop_lanes[2] = true;
    }
    return stop_lanes;
  });
  for (int l = 0; l < W; ++l) {
    const auto u = static_cast<std::size_t>(l);
    Net::Params p = starts[u];
    long single_seen = 0;
    const auto expected = sf::run(methods[u], objectives[u], p, single_stop(l),
                                  [&](const sf::Snapshot<Net::Params>&) { ++single_seen; });
    INFO("lane " << l << ": batch " << status[u].message() << "; single " << expected.message());
    if (l == 2) {
      CHECK(expected.reason == sf::StopReason::loss_tolerance);
      CHECK(status[u].reason == sf::StopReason::observer);
      CHECK(seen[u] == single_seen);
    } else {
      CHECK(status[u].reason == expected.reason);
      CHECK(seen[u] == single_seen);
    }
    CHECK(status[u].step == expected.step);
    CHECK(status[u].index == expected.index);
    if (l == 0) {
      CHECK(status[u].reason == sf::StopReason::non_finite_parameter);
      CHECK(status[u].index == 17);
      CHECK(std::isnan(theta.lane(l)[17]));
      CHECK(relative_gap(theta.lane(l).tail(Net::num_params - 18), starts[u].tail(Net::num_params - 18)) == 0);
    } else if (l == 1) {
      CHECK(status[u].diverged());
      CHECK(status[u].step < 50);
    } else {
      CHECK(relative_gap(theta.lane(l), p) <= 1e-13);
    }
  }
}

TEST_CASE("run_many: every run in item order, padding lanes unseen, the same for one thread and two and for 2W lanes",
          "[batch][run_many]") {
  using P = Paper<sf::Sigmoid>;
  using Net = P::Net;
  constexpr int W = P::W;
  const Net net;
  const int runs = 2 * W + 1;
  auto rng = st::rng_for(0);
  std::vector<P::Obj> objectives;
  std::vector<Net::Params> starts;
  std::vector<sf::GradientDescent> methods;
  for (int i = 0; i < runs; ++i) {
    objectives.emplace_back(net, sf::MeanSquaredError{}, P::X::Identity(), st::normal<P::Y>(rng));
    starts.push_back(sf::random_params(net, rng, 0.1));
    methods.push_back(sf::GradientDescent{0.01 + 0.002 * i});
  }
  const sf::Stopping stop{.max_steps = 200};
  std::vector<std::vector<double>> squared_norms(static_cast<std::size_t>(runs));
  const auto many = [&](int threads, std::vector<std::vector<double>>& losses) {
    std::vector<Net::Params> thetas = starts;
    losses.assign(static_cast<std::size_t>(runs), {});
    for (auto& v : squared_norms) v.clear();
    const auto status = sf::run_many<W>(std::span<const sf::GradientDescent>(methods), std::span<const P::Obj>(objectives),
                                        std::span<Net::Params>(thetas), stop,
                                        [&](std::size_t i) {
                                          return [&losses, &squared_norms, i](const sf::LaneSnapshot<Net, W>& s) {
                                            losses[i].push_back(s.loss);
                                            squared_norms[i].push_back(s.gradient_squared_norm());
                                            if (s.last) losses[i].push_back(s.theta().norm());
                                          };
                                        },
                                        threads);
    REQUIRE(status.size() == static_cast<std::size_t>(runs));
    for (const auto& s : status) CHECK(s.reason == sf::StopReason::step_budget);
    return thetas;
  };
  std::vector<std::vector<double>> losses_one, losses_two;
  const auto one = many(1, losses_one);
  const auto two = many(2, losses_two);
  // Batches of 2W lanes (two SIMD packets per lane vector, or one of twice the width): a lane's
  // arithmetic is the same whatever the width, so the same bits.
  std::vector<Net::Params> wide = starts;
  sf::run_many<2 * W>(std::span<const sf::GradientDescent>(methods), std::span<const P::Obj>(objectives),
                      std::span<Net::Params>(wide), stop, [](std::size_t) { return [](const sf::LaneSnapshot<Net, 2 * W>&) {}; });
  for (int i = 0; i < runs; ++i) {
    const auto u = static_cast<std::size_t>(i);
    INFO("run " << i);
    CHECK(one[u] == two[u]);
    CHECK(wide[u] == one[u]);
    CHECK(losses_one[u] == losses_two[u]);
    REQUIRE(losses_one[u].size() == 202);  // 201 points and the norm of the last θ
    Net::Params p = starts[u];
    // ‖∇L‖² of every point (the lanes' lane-parallel sums) against the single run's ‖∇L‖².
    double worst_norm = 0;
    std::size_t point = 0;
    sf::run(methods[u], objectives[u], p, stop, [&](const sf::Snapshot<Net::Params>& s) {
      const double expected = s.gradient.squaredNorm();
      REQUIRE(point < squared_norms[u].size());
      worst_norm = std::max(worst_norm, std::abs(squared_norms[u][point++] - expected) / expected);
    });
    CHECK(point == squared_norms[u].size());
    INFO("‖∇L‖²: worst relative gap " << worst_norm);
    CHECK(worst_norm <= 1e-13);
    CHECK(relative_gap(one[u], p) <= 1e-13);
    CHECK(std::abs(losses_one[u].back() - p.norm()) <= 1e-13 * p.norm());
  }
}

TEST_CASE("conserved quantities in lanes equal each lane's q.value", "[batch][quantity]") {
  auto rng = st::rng_for(0);
  const auto check = [&]<class Act>(Act) {
    using Net = typename Paper<Act>::Net;
    constexpr int W = Paper<Act>::W;
    const Net net;
    sf::BatchParams<Net, W> theta(net);
    for (int l = 0; l < W; ++l) theta.set_lane(l, sf::random_params(net, rng, 0.2 + 0.3 * l));
    const auto q = recorded_quantity(net);
    const auto lanes = sf::lane_values(q, theta);
    const sf::ElementwiseQuantity<Net> terms(net);
    for (int l = 0; l < W; ++l) {
      const auto p = theta.lane(l);
      INFO(Act::name() << ", lane " << l);
      CHECK(std::abs(lanes[static_cast<std::size_t>(l)] - q.value(p)) <= 1e-13 * (terms.outgoing(p) + terms.incoming(p)));
    }
    // Any other quantity: each lane's θ through q.value, the very same numbers.
    if constexpr (sf::ScalingEquivariantActivation<Act>) {
      const sf::ScalingImbalance<Net, 1> scaling(net);
      const auto per_unit = sf::lane_values(scaling, theta);
      for (int l = 0; l < W; ++l) CHECK(per_unit[static_cast<std::size_t>(l)] == scaling.value(theta.lane(l)));
    }
  };
  check(sf::Identity{});
  check(sf::ReLU{});
  check(sf::Tanh{});
  check(sf::Sigmoid{});
}

namespace {

/// Largest |got − ref|/|ref| over the entries, in units of ε/2 of S, against a long-double reference.
template <class S, class Reference>
double max_ulps(const Eigen::Array<S, Eigen::Dynamic, 1>& z, const Eigen::Array<S, Eigen::Dynamic, 1>& got,
                const Reference& reference) {
  double worst = 0;
  for (sf::Index i = 0; i < z.size(); ++i) {
    const long double ref = reference(static_cast<long double>(z[i]));
    if (ref == 0) {
      CHECK(got[i] == 0);
      continue;
    }
    const double err = static_cast<double>(std::abs((static_cast<long double>(got[i]) - ref) / ref));
    worst = std::max(worst, err / (0.5 * static_cast<double>(std::numeric_limits<S>::epsilon())));
  }
  return worst;
}

/// `count` arguments uniform in [−r, r] (packets with every entry small, the lanes' fast branches),
/// then `count` log-uniform ones from 1e-6 to 40 of either sign (packets mixing both branches).
template <class S>
Eigen::Array<S, Eigen::Dynamic, 1> lane_arguments(std::mt19937_64& rng, double r, sf::Index count) {
  std::uniform_real_distribution<double> small(-r, r), exponent(-6.0, std::log10(40.0));
  std::bernoulli_distribution negative(0.5);
  Eigen::Array<S, Eigen::Dynamic, 1> z(2 * count);
  for (sf::Index i = 0; i < count; ++i) z[i] = static_cast<S>(small(rng));
  for (sf::Index i = count; i < 2 * count; ++i) {
    const double magnitude = std::pow(10.0, exponent(rng));
    z[i] = static_cast<S>(negative(rng) ? -magnitude : magnitude);
  }
  return z;
}

}  // namespace

TEMPLATE_TEST_CASE("the lanes' kernels: tanh as Tanh's kernel, the logistic function and Φ of eq. (48) to a few ulps",
                   "[batch][kernels]", float, double) {
  using S = TestType;
  using Array = Eigen::Array<S, Eigen::Dynamic, 1>;
  auto rng = st::rng_for(3);
  // 4096 + 3 entries: whole packets, and a scalar remainder.
  Array z = lane_arguments<S>(rng, 0.625, 2048);
  z.conservativeResize(z.size() + 3);
  z.tail(3) << S(0.625), -std::nextafter(S(0.625), S(1)), S(1e-30);
  // tanh: the packets that skip the exponential give Tanh's values exactly.
  const Array t = z.unaryExpr(sf::detail::TanhLaneKernel<S>{});
  CHECK((t == sf::Tanh{}.values(z)).all());
  // σ: ½ + ½ tanh(z/2) for packets within |z| ≤ 1.25, Sigmoid's kernel otherwise.
  Array zs = lane_arguments<S>(rng, 1.25, 2048);
  zs.conservativeResize(zs.size() + 3);
  zs.tail(3) << S(1.25), -S(1.25), -std::nextafter(S(1.25), S(2));
  const Array sigma = zs.unaryExpr(sf::detail::SigmoidLaneKernel<S>{});
  CHECK(max_ulps<S>(zs, sigma, [](long double x) { return 1.0L / (1.0L + std::exp(-x)); }) <= 4.0);
  // Φ(v) = ½ sinh²v and v + e^v − 1: power series within |v| ≤ ½, the closed forms otherwise.
  Array v = lane_arguments<S>(rng, 0.5, 2048);
  v.conservativeResize(v.size() + 3);
  v.tail(3) << S(0.5), -std::nextafter(S(0.5), S(1)), S(0);
  const Array phi_tanh = v.unaryExpr(sf::detail::PotentialLaneKernel<S, true>{});
  const Array phi_logistic = v.unaryExpr(sf::detail::PotentialLaneKernel<S, false>{});
  const auto half_sinh_squared = [](long double x) { const long double sh = std::sinh(x); return sh * sh / 2; };
  const auto logistic_potential = [](long double x) { return x + std::expm1(x); };
  // The power series (the first 2048 entries) and the closed forms (the rest, and the tail).
  const Array vs = v.head(2048), ps_tanh = phi_tanh.head(2048), ps_logistic = phi_logistic.head(2048);
  const double series_tanh = max_ulps<S>(vs, ps_tanh, half_sinh_squared);
  const double series_logistic = max_ulps<S>(vs, ps_logistic, logistic_potential);
  const double all_tanh = max_ulps<S>(v, phi_tanh, half_sinh_squared);
  const double all_logistic = max_ulps<S>(v, phi_logistic, logistic_potential);
  INFO("Φ in units of ε/2, power series: tanh " << series_tanh << ", logistic " << series_logistic
                                                << "; all: tanh " << all_tanh << ", logistic " << all_logistic);
  CHECK(series_tanh <= 4.0);
  CHECK(series_logistic <= 4.0);
  CHECK(all_tanh <= 12.0);
  CHECK(all_logistic <= 12.0);
  // NaN stays NaN on both branches.
  const Eigen::Array<S, 8, 1> nan = Eigen::Array<S, 8, 1>::Constant(std::numeric_limits<S>::quiet_NaN());
  CHECK(nan.unaryExpr(sf::detail::SigmoidLaneKernel<S>{}).isNaN().all());
  CHECK(nan.unaryExpr(sf::detail::PotentialLaneKernel<S, true>{}).isNaN().all());
  CHECK(nan.unaryExpr(sf::detail::PotentialLaneKernel<S, false>{}).isNaN().all());
}

TEST_CASE("batches reject wrong sizes with the numbers seen", "[batch][errors]") {
  using P = Paper<sf::ReLU>;
  constexpr int W = P::W;
  const P::Net net;
  const P::Obj one(net, sf::MeanSquaredError{}, P::X::Identity(), P::Y::Zero());
  const std::vector<P::Obj> too_many(W + 1, one);
  CHECK_THROWS_WITH((sf::BatchObjective<P::Obj, W>(too_many)), Catch::Contains(std::to_string(W + 1) + " runs given"));
  CHECK_THROWS_WITH((sf::BatchObjective<P::Obj, W>(std::span<const P::Obj>())), Catch::Contains("no runs given"));
  sf::BatchParams<P::Net, W> theta(net);
  CHECK_THROWS_AS(theta.lane(W), std::out_of_range);
  CHECK_THROWS_WITH(theta.set_lane(0, Eigen::VectorXd::Zero(3)), Catch::Contains("3"));
  const sf::BatchObjective<P::Obj, W> batch(one);
  CHECK(batch.runs() == 1);
  CHECK(batch.padding(W - 1) == (W > 1));
  sf::BatchParams<P::Net, W> wrong(7), grad(net);
  // GCC follows the copy of W_1 past the size check that throws, and warns about reading past θ.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
  CHECK_THROWS_WITH(batch.value_and_gradient(wrong, grad), Catch::Contains("7 entries per lane, expected d = 750"));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
}
