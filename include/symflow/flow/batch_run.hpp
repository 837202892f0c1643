// SPDX-License-Identifier: MIT
#pragma once
/// \file run_batch: gradient descent, heavy-ball or Nesterov momentum, or Adam on W runs in lockstep
/// (one BatchObjective), with the stopping rules, statuses and observers of `run` applied to every
/// run on its own; and run_many, which splits any number of runs into such batches and runs the
/// batches on the OpenMP threads. Each lane has its own method parameters (learning rate, momentum,
/// β₁, β₂, ε, weight decay) and its own optimiser state, updated with the arithmetic of the single
/// run's step (flow/gradient_descent.hpp, momentum.hpp, adam.hpp) entry by entry.
///
/// Per lane, at every step, the order is that of `run` (flow/run.hpp): divergence (a non-finite
/// entry of θ, a non-finite loss, a non-finite entry of ∇L, a loss blow-up), then tolerances and
/// budgets, then the observers, then the step. A lane that stops keeps its θ where it stopped
/// (its later updates are masked) and its status says why, exactly as `run` would for that run
/// alone; the other lanes go on. The batch ends when every lane has stopped.
///
/// Changing one call: `run(GradientDescent{η}, objective, θ, stop, observer)` for one run becomes
/// `run_many(GradientDescent{η}, objectives, thetas, stop, make_observer)` for many, where
/// make_observer(i) gives run i's observer of LaneSnapshot (its step, time, loss, θ on demand).

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "symflow/analysis/sweep.hpp"
#include "symflow/core/reduction.hpp"
#include "symflow/flow/adam.hpp"
#include "symflow/flow/batch_objective.hpp"
#include "symflow/flow/gradient_descent.hpp"
#include "symflow/flow/momentum.hpp"
#include "symflow/flow/observer.hpp"
#include "symflow/flow/stopping.hpp"

namespace symflow {

/// The methods run_batch steps in lanes: GradientDescent, Momentum and Adam.
template <class M>
concept BatchMethod = std::is_same_v<M, GradientDescent> || std::is_same_v<M, Momentum> || std::is_same_v<M, Adam>;

/// One point of a batch as a batch observer sees it: θ_step of every lane with its loss and
/// gradient. Only lanes with `running[l]` set are at a point of their run; the others stopped
/// earlier (or are padding) and must be ignored. `last[l]`: this is run l's last point.
template <class Net, int W>
struct BatchSnapshot {
  using Params = BatchParams<Net, W>;
  using Lanes = typename Params::Lanes;
  Index step;
  const Lanes& time;
  const Params& theta;
  const Lanes& loss;
  const Params& gradient;
  std::array<bool, W> running;
  std::array<bool, W> last;
  /// ‖∇L‖² of every lane in accumulator_t (double for float), summed in the pass that checks ∇L
  /// for finiteness (four interleaved partial sums over the entries, as lane_sum).
  const Eigen::Array<accumulator_t<typename Net::Scalar>, W, 1>& gradient_squared_norms;
};

/// One run's point inside a batch, for per-run observers (run_many): the step, time, loss and
/// whether it is the last point, with θ and ∇L of this run gathered from the lanes on demand.
template <class Net, int W>
struct LaneSnapshot {
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  const BatchSnapshot<Net, W>& batch;
  int lane;
  Index step;
  Scalar time;
  Scalar loss;
  bool last;
  /// θ of this run (gathers d entries: call it only at the steps you record).
  Params theta() const { return batch.theta.lane(lane); }
  /// ∇L of this run (gathers d entries).
  Params gradient() const { return batch.gradient.lane(lane); }
  /// ‖∇L‖² of this run (batch.gradient_squared_norms: one lane-parallel pass for all lanes).
  accumulator_t<Scalar> gradient_squared_norm() const { return batch.gradient_squared_norms[lane]; }
};

namespace detail {

/// Calls a batch observer; returns the lanes it asks to stop: none (void or Signal::proceed), every
/// lane (Signal::stop), or those set in the std::array<bool, W> it returns.
template <int W, class F, class Snap>
std::array<bool, W> notify_batch(F& f, const Snap& s) {
  static_assert(std::invocable<F&, const Snap&>, "symflow::run_batch: an observer must be callable as f(batch_snapshot)");
  using R = std::invoke_result_t<F&, const Snap&>;
  std::array<bool, W> stop{};
  if constexpr (std::is_void_v<R>) {
    f(s);
  } else if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::array<bool, W>>) {
    stop = f(s);
  } else {
    stop.fill(as_signal(f(s)) == Signal::stop);
  }
  return stop;
}

/// Calls a per-run observer of LaneSnapshot; true when it asks its run to stop.
template <class F, class Snap>
bool notify_lane(F& f, const Snap& s) {
  static_assert(std::invocable<F&, const Snap&>, "symflow::run_many: an observer must be callable as f(lane_snapshot)");
  if constexpr (std::is_void_v<std::invoke_result_t<F&, const Snap&>>) {
    f(s);
    return false;
  } else {
    return as_signal(f(s)) == Signal::stop;
  }
}

/// Lane l of Σ_i x_i·0 over the entries is 0 when every entry of lane l is finite, NaN otherwise.
template <int W, class S>
std::array<bool, W> finite_lanes(const Eigen::Array<S, W, Dynamic>& x) {
  S acc[W];
  lane_sum<W>(acc, x.data(), x.cols(), [](const auto& v) { return v * S(0); });
  std::array<bool, W> out;
  for (int l = 0; l < W; ++l) out[static_cast<std::size_t>(l)] = acc[l] == S(0);
  return out;
}

/// finite_lanes(x), and in the same pass Σ_i x_i² of every lane in accumulator_t into `squares`
/// (each with lane_sum's four interleaved partial sums, so the same numbers as lane_sum gives).
/// The loop is written out as lane_sum's is: one helper for the three loops, with the partial sums in
/// arrays indexed by a compile-time stream number, made the paper-size batch step 15-50 % slower at
/// g++ 12 -O2.
template <int W, class S>
std::array<bool, W> finite_lanes(const Eigen::Array<S, W, Dynamic>& x, Eigen::Array<accumulator_t<S>, W, 1>& squares) {
  using A = accumulator_t<S>;
  using V = LaneVector<S, W>;
  using VA = LaneVector<A, W>;
  V z0 = V::Zero(), z1 = V::Zero(), z2 = V::Zero(), z3 = V::Zero();
  VA q0 = VA::Zero(), q1 = VA::Zero(), q2 = VA::Zero(), q3 = VA::Zero();
  const auto add = [&](Index i, V& z, VA& q) {
    const auto xi = lanes_at<W>(x.data() + i * W);
    z += xi * S(0);
    q += xi.template cast<A>().square();
  };
  const Index count = x.cols();
  Index i = 0;
  for (; i + 4 <= count; i += 4) {
    add(i, z0, q0);
    add(i + 1, z1, q1);
    add(i + 2, z2, q2);
    add(i + 3, z3, q3);
  }
  if (i < count) add(i++, z0, q0);
  if (i < count) add(i++, z1, q1);
  if (i < count) add(i, z2, q2);
  squares = (q0 + q1) + (q2 + q3);
  const V zero = (z0 + z1) + (z2 + z3);
  std::array<bool, W> out;
  for (int l = 0; l < W; ++l) out[static_cast<std::size_t>(l)] = zero[l] == S(0);
  return out;
}

/// First non-finite entry of lane l, or −1.
template <int W, class S>
Index first_non_finite_entry(const Eigen::Array<S, W, Dynamic>& x, int l) {
  using std::isfinite;
  for (Index i = 0; i < x.cols(); ++i)
    if (!isfinite(x(l, i))) return i;
  return -1;
}

}  // namespace detail

namespace detail {

/// Each lane's method parameters and optimiser state, and the step of all lanes at once: θ ← θ −
/// η∇L (GradientDescent); v ← μv + ∇L, θ ← θ − η(∇L + μv) or θ − ηv (Momentum); Adam's moments
/// and bias-corrected step, with the decoupled-from-nothing weight decay of torch.optim.Adam (∇L +
/// λθ). Lanes that are not running keep their θ exactly.
template <class Method, class Scalar, int W>
class LaneStepper {
 public:
  using Lanes = Eigen::Array<Scalar, W, 1>;
  using State = Eigen::Array<Scalar, W, Dynamic>;

  LaneStepper(const std::array<Method, W>& methods, Index entries) {
    for (int l = 0; l < W; ++l) {
      const Method& m = methods[static_cast<std::size_t>(l)];
      eta_[l] = static_cast<Scalar>(m.learning_rate);
      if constexpr (std::is_same_v<Method, Momentum>) {
        mu_[l] = static_cast<Scalar>(m.momentum);
        nesterov_[static_cast<std::size_t>(l)] = m.nesterov;
        dt_[l] = eta_[l] / (Scalar(1) - mu_[l]);
      } else {
        dt_[l] = eta_[l];
      }
      if constexpr (std::is_same_v<Method, Adam>) {
        b1_[l] = static_cast<Scalar>(m.beta1);
        b2_[l] = static_cast<Scalar>(m.beta2);
        eps_[l] = static_cast<Scalar>(m.epsilon);
        lambda_[l] = static_cast<Scalar>(m.weight_decay);
      }
    }
    if constexpr (!std::is_same_v<Method, GradientDescent>) first_ = State::Zero(W, entries);
    if constexpr (std::is_same_v<Method, Adam>) second_ = State::Zero(W, entries);
  }

  /// The time one step advances lane l by, as the single run's StepOutcome::dt.
  const Lanes& dt() const { return dt_; }

  /// Step `steps` (the number of steps taken before this one) of every running lane; part[r][l]
  /// accumulates Σ θ_i·0 over the new θ (finite iff it stays 0).
  void step(Scalar* t, const Scalar* g, Index entries, const std::array<bool, W>& running, Index steps,
            Scalar (&part)[4][W]) {
    alignas(64) Scalar rate[W];
    for (int l = 0; l < W; ++l) rate[l] = running[static_cast<std::size_t>(l)] ? eta_[l] : Scalar(0);
    if constexpr (std::is_same_v<Method, GradientDescent>) {
      // A stopped lane steps by 0·∇L, which leaves its θ as it is (its ∇L is finite or zeroed).
      // In packets, four partial sums at a time: SIMD at any optimisation level.
      using namespace Eigen::internal;
      using LP = LanePackets<Scalar, W>;
      using P = typename LP::Packet;
      constexpr int np = LP::count, ps = LP::size;
      P r[np], sum[4][np];
      for (int j = 0; j < np; ++j) {
        r[j] = ploadu<P>(rate + j * ps);
        for (int k = 0; k < 4; ++k) sum[k][j] = pset1<P>(Scalar(0));
      }
      const auto update = [&](Index i, P(&s)[np]) {
        for (int j = 0; j < np; ++j) {
          Scalar* ti = t + i * W + j * ps;
          const P next = psub(ploadu<P>(ti), pmul(r[j], ploadu<P>(g + i * W + j * ps)));
          pstoreu(ti, next);
          s[j] = padd(s[j], pmul(next, pset1<P>(Scalar(0))));
        }
      };
      Index i = 0;
      for (; i + 4 <= entries; i += 4) {
        update(i, sum[0]);
        update(i + 1, sum[1]);
        update(i + 2, sum[2]);
        update(i + 3, sum[3]);
      }
      if (i < entries) update(i++, sum[0]);
      if (i < entries) update(i++, sum[1]);
      if (i < entries) update(i, sum[2]);
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < np; ++j) pstoreu(part[k] + j * ps, padd(ploadu<P>(part[k] + j * ps), sum[k][j]));
    } else if constexpr (std::is_same_v<Method, Momentum>) {
      Scalar* v = first_.data();
      for (Index i = 0; i < entries; ++i) {
        Scalar* acc = part[i % 4];
        for (int l = 0; l < W; ++l) {
          const Index k = i * W + l;
          v[k] = mu_[l] * v[k] + g[k];
          const Scalar direction = nesterov_[static_cast<std::size_t>(l)] ? g[k] + mu_[l] * v[k] : v[k];
          const Scalar next = t[k] - rate[l] * direction;
          t[k] = next;
          acc[l] += next * Scalar(0);
        }
      }
    } else {
      using std::pow;
      using std::sqrt;
      const Scalar count = static_cast<Scalar>(steps + 1);
      alignas(64) Scalar size[W], correction2[W];
      for (int l = 0; l < W; ++l) {
        size[l] = rate[l] / (Scalar(1) - pow(b1_[l], count));
        correction2[l] = sqrt(Scalar(1) - pow(b2_[l], count));
      }
      Scalar* m = first_.data();
      Scalar* v = second_.data();
      for (Index i = 0; i < entries; ++i) {
        Scalar* acc = part[i % 4];
        for (int l = 0; l < W; ++l) {
          const Index k = i * W + l;
          const Scalar gk = lambda_[l] != Scalar(0) ? g[k] + lambda_[l] * t[k] : g[k];
          m[k] = b1_[l] * m[k] + (Scalar(1) - b1_[l]) * gk;
          v[k] = b2_[l] * v[k] + (Scalar(1) - b2_[l]) * (gk * gk);
          // A stopped lane keeps θ by selection: with ε = 0 its ratio may be 0/0.
          const Scalar next = running[static_cast<std::size_t>(l)] ? t[k] - size[l] * m[k] / (sqrt(v[k]) / correction2[l] + eps_[l])
                                                                     : t[k];
          t[k] = next;
          acc[l] += next * Scalar(0);
        }
      }
    }
  }

 private:
  Lanes eta_, dt_, mu_ = Lanes::Zero(), b1_ = Lanes::Zero(), b2_ = Lanes::Zero(), eps_ = Lanes::Zero(),
               lambda_ = Lanes::Zero();
  std::array<bool, W> nesterov_{};
  State first_, second_;
};

}  // namespace detail

/// `Method` (GradientDescent, Momentum or Adam) on every lane of `objective` from θ (updated in
/// place), lane l with methods[l]; every lane under the same stopping rules, each with its own status. Observers
/// are called as f(const BatchSnapshot&) at every step and may return void, a Signal (Signal::stop
/// stops every running lane, reason `observer`) or a std::array<bool, W> of the lanes to stop. Padding lanes are reported as stopped at step 0 (step budget).
template <BatchMethod Method, std::size_t N, class Obj, int W, class... Observers>
  requires(N == static_cast<std::size_t>(W))
std::array<RunStatus<typename Obj::Scalar>, W> run_batch(const std::array<Method, N>& methods,
                                                         const BatchObjective<Obj, W>& objective,
                                                         BatchParams<typename Obj::ModelType, W>& theta,
                                                         const Stopping& stop, Observers&&... observers) {
  using Scalar = typename Obj::Scalar;
  using Net = typename Obj::ModelType;
  using Params = BatchParams<Net, W>;
  using Lanes = typename Params::Lanes;
  using std::abs;
  using std::isfinite;

  // As run(): the stopping rules and every lane's method parameters are checked first, by name.
  stop.validate();
  for (int l = 0; l < W; ++l)
    if (!objective.padding(l)) methods[static_cast<std::size_t>(l)].validate();
  const auto clock_start = std::chrono::steady_clock::now();
  const bool wall_timed = isfinite(stop.max_seconds);
  const bool timed = isfinite(stop.max_time);
  const Scalar eps = std::numeric_limits<Scalar>::epsilon();
  const Scalar end_time = timed ? static_cast<Scalar>(stop.max_time) : std::numeric_limits<Scalar>::infinity();

  Lanes time = Lanes::Zero(), carry = Lanes::Zero(), step_size = Lanes::Zero(), blow_up;
  std::array<bool, W> running{}, check_blow_up{};
  std::array<RunStatus<Scalar>, W> status{};
  for (int l = 0; l < W; ++l) running[static_cast<std::size_t>(l)] = !objective.padding(l);
  detail::LaneStepper<Method, Scalar, W> stepper(methods, objective.size());

  typename BatchObjective<Obj, W>::Workspace ws;
  Params grad(objective.size());
  Lanes loss = objective.value_and_gradient(theta, grad, ws);
  for (int l = 0; l < W; ++l) {
    const Scalar reference = std::max(abs(loss[l]), static_cast<Scalar>(stop.blow_up_floor));
    blow_up[l] = static_cast<Scalar>(stop.blow_up_factor) * reference;
    check_blow_up[static_cast<std::size_t>(l)] = isfinite(reference) && reference > Scalar(0) && stop.blow_up_factor > 0;
    status[static_cast<std::size_t>(l)].evaluations = 1;
    status[static_cast<std::size_t>(l)].max_steps = stop.max_steps;
  }
  std::array<bool, W> theta_finite = detail::finite_lanes(theta.storage());

  for (Index step = 0;; ++step) {
    std::array<bool, W> last{};
    bool any = false;
    Eigen::Array<accumulator_t<Scalar>, W, 1> grad_norms;
    const std::array<bool, W> grad_finite = detail::finite_lanes(grad.storage(), grad_norms);
    const bool wall_over = wall_timed && std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count() >=
                                             stop.max_seconds;
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      if (!running[u]) continue;
      RunStatus<Scalar>& s = status[u];
      s.step = step;
      s.time = time[l];
      s.loss = loss[l];
      s.last_step_size = step_size[l];
      // 1. Divergence: the lane stops where the divergence was found.
      bool diverged = true;
      if (!theta_finite[u]) {
        s.reason = StopReason::non_finite_parameter;
        s.index = detail::first_non_finite_entry(theta.storage(), l);
        s.value = theta.storage()(l, s.index);
      } else if (!isfinite(loss[l])) {
        s.reason = StopReason::non_finite_loss;
        s.value = loss[l];
      } else if (!grad_finite[u]) {
        s.reason = StopReason::non_finite_gradient;
        s.index = detail::first_non_finite_entry(grad.storage(), l);
        s.value = grad.storage()(l, s.index);
      } else if (check_blow_up[u] && loss[l] > blow_up[l]) {
        s.reason = StopReason::loss_blow_up;
        s.value = loss[l];
        s.threshold = blow_up[l];
      } else {
        diverged = false;
      }
      if (diverged) {
        running[u] = false;
        continue;
      }
      // 2. Tolerances and budgets.
      last[u] = true;
      if (loss[l] <= static_cast<Scalar>(stop.loss_tolerance)) {
        s.reason = StopReason::loss_tolerance;
        s.value = loss[l];
      } else if (const Scalar gn = stop.gradient_tolerance >= 0 ? std::sqrt(grad.storage().row(l).square().sum()) : Scalar(0);
                 stop.gradient_tolerance >= 0 && gn <= static_cast<Scalar>(stop.gradient_tolerance)) {
        s.reason = StopReason::gradient_tolerance;
        s.value = gn;
      } else if (step >= stop.max_steps) {
        s.reason = StopReason::step_budget;
      } else if (timed && time[l] >= end_time - Scalar(4) * eps * abs(end_time)) {
        s.reason = StopReason::time_budget;
      } else if (wall_over) {
        s.reason = StopReason::wall_clock_budget;
      } else {
        last[u] = false;
      }
      any = true;
    }
    if (!any) break;
    // 3. Observers.
    std::array<bool, W> asked_to_stop{};
    if constexpr (sizeof...(Observers) > 0) {
      const BatchSnapshot<Net, W> snapshot{step, time, theta, loss, grad, running, last, grad_norms};
      const auto ask = [&](auto& observer) {
        const std::array<bool, W> stop_lanes = detail::notify_batch<W>(observer, snapshot);
        for (std::size_t u = 0; u < W; ++u) asked_to_stop[u] = asked_to_stop[u] || stop_lanes[u];
      };
      (ask(observers), ...);
    }
    bool any_left = false;
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      if (!running[u]) continue;
      if (last[u]) {
        running[u] = false;
      } else if (asked_to_stop[u]) {
        status[u].reason = StopReason::observer;
        running[u] = false;
      }
      any_left = any_left || running[u];
    }
    if (!any_left) break;
    // 4. Step on the running lanes only; where a stopped lane's gradient is not finite it is zeroed
    // first, so that its θ (and the optimiser state the step reads) stays finite.
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      if (!running[u] && !grad_finite[u]) grad.storage().row(l).setZero();
    }
    // The finiteness of the new θ (Σ θ_i·0 = 0, in four interleaved partial sums) in the same pass.
    Scalar part[4][W] = {};
    stepper.step(theta.data(), grad.data(), theta.size(), running, step, part);
    std::array<bool, W> next_finite;
    for (int l = 0; l < W; ++l)
      next_finite[static_cast<std::size_t>(l)] = (part[0][l] + part[1][l]) + (part[2][l] + part[3][l]) == Scalar(0);
    for (int l = 0; l < W; ++l) {
      const auto u = static_cast<std::size_t>(l);
      theta_finite[u] = next_finite[u];
      if (!running[u]) continue;
      // The time as IntegratorState keeps it: a Kahan sum of the steps' dt.
      const Scalar dt = stepper.dt()[l];
      const Scalar y = dt - carry[l];
      const Scalar tt = time[l] + y;
      carry[l] = (tt - time[l]) - y;
      time[l] = tt;
      step_size[l] = dt;
      ++status[u].evaluations;
    }
    loss = objective.value_and_gradient(theta, grad, ws);
  }
  for (int l = objective.runs(); l < W; ++l) status[static_cast<std::size_t>(l)] = RunStatus<Scalar>{};
  return status;
}

/// Every lane with the same method.
template <BatchMethod Method, class Obj, int W, class... Observers>
std::array<RunStatus<typename Obj::Scalar>, W> run_batch(const Method& method, const BatchObjective<Obj, W>& objective,
                                                         BatchParams<typename Obj::ModelType, W>& theta,
                                                         const Stopping& stop, Observers&&... observers) {
  std::array<Method, W> methods;
  methods.fill(method);
  return run_batch(methods, objective, theta, stop, std::forward<Observers>(observers)...);
}

/// `Method` (GradientDescent, Momentum or Adam) on N independent runs: run i from thetas[i] (updated in place) on objectives[i]
/// with methods[i] (or one method for all), under the same stopping rules. Runs go W at a time
/// into lockstep batches (BatchObjective); the batches run on the OpenMP threads (symflow::sweep).
/// make_observer(i) gives run i's observer, called as f(const LaneSnapshot<Net, W>&) at every
/// point of run i (it may return Signal::stop to stop run i); it is called from the thread that
/// runs i's batch, so each observer should write only to run i's own storage. Returns run i's
/// status at index i; every run's result is the same for every thread count.
template <int W, BatchMethod Method, class Obj, class MakeObserver>
std::vector<RunStatus<typename Obj::Scalar>> run_many(std::span<const Method> methods,
                                                      std::span<const Obj> objectives,
                                                      std::span<typename Obj::Params> thetas, const Stopping& stop,
                                                      MakeObserver&& make_observer, int threads = 0) {
  using Net = typename Obj::ModelType;
  using Scalar = typename Obj::Scalar;
  const std::size_t n = objectives.size();
  if (thetas.size() != n || (methods.size() != n && methods.size() != 1))
    throw std::invalid_argument("symflow::run_many: " + std::to_string(n) + " objectives, " +
                                std::to_string(thetas.size()) + " parameter vectors and " +
                                std::to_string(methods.size()) + " methods; expected as many of each (or one method)");
  const std::uint64_t batches = (n + W - 1) / W;
  const auto done = sweep(
      batches,
      [&](std::uint64_t b) {
        const std::size_t first = static_cast<std::size_t>(b) * W;
        const std::size_t count = std::min<std::size_t>(W, n - first);
        const BatchObjective<Obj, W> objective(objectives.subspan(first, count));
        BatchParams<Net, W> theta(objective.size());
        std::array<Method, W> lane_methods;
        for (std::size_t l = 0; l < W; ++l) {
          const std::size_t i = first + (l < count ? l : 0);
          theta.set_lane(static_cast<int>(l), thetas[i]);
          lane_methods[l] = methods[methods.size() == 1 ? 0 : i];
        }
        using Observer = std::remove_cvref_t<std::invoke_result_t<MakeObserver&, std::size_t>>;
        std::vector<Observer> lane_observers;
        lane_observers.reserve(count);
        for (std::size_t l = 0; l < count; ++l) lane_observers.push_back(make_observer(first + l));
        auto status = run_batch(lane_methods, objective, theta, stop, [&](const BatchSnapshot<Net, W>& s) {
          std::array<bool, W> stop_lanes{};
          for (std::size_t l = 0; l < count; ++l) {
            if (!s.running[l]) continue;
            const LaneSnapshot<Net, W> lane{s, static_cast<int>(l), s.step, s.time[static_cast<Index>(l)],
                                            s.loss[static_cast<Index>(l)], s.last[l]};
            stop_lanes[l] = detail::notify_lane(lane_observers[l], lane);
          }
          return stop_lanes;
        });
        std::vector<std::pair<typename Obj::Params, RunStatus<Scalar>>> out;
        out.reserve(count);
        for (std::size_t l = 0; l < count; ++l) out.emplace_back(theta.lane(static_cast<int>(l)), status[l]);
        return out;
      },
      threads);
  std::vector<RunStatus<Scalar>> statuses;
  statuses.reserve(n);
  for (std::uint64_t b = 0; b < batches; ++b)
    for (std::size_t l = 0; l < done[b].size(); ++l) {
      thetas[static_cast<std::size_t>(b) * W + l] = done[b][l].first;
      statuses.push_back(done[b][l].second);
    }
  return statuses;
}

/// run_many with one method for every run.
template <int W, BatchMethod Method, class Obj, class MakeObserver>
std::vector<RunStatus<typename Obj::Scalar>> run_many(const Method& method, std::span<const Obj> objectives,
                                                      std::span<typename Obj::Params> thetas, const Stopping& stop,
                                                      MakeObserver&& make_observer, int threads = 0) {
  return run_many<W>(std::span<const Method>(&method, 1), objectives, thetas, stop,
                     std::forward<MakeObserver>(make_observer), threads);
}

}  // namespace symflow
