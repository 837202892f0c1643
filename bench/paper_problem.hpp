// SPDX-License-Identifier: MIT
#pragma once
// The paper's Appendix D problem at its size, shared by the benchmarks of the training loop
// (bench_paper_loop.cpp) and of the integrator steps (bench_flow.cpp): F(X) = U σ(V X) with input
// 10, hidden 50, output 5, X = I (10 samples), mean squared error; and the same gradient-descent
// step written out by hand with fixed-size Eigen matrices, the yardstick for symflow's generic one.
#include <random>
#include <type_traits>

#include <symflow/symflow.hpp>

namespace symflow_bench {

namespace sf = symflow;

inline constexpr int n = 10, h = 50, m = 5;

template <class S, class Act>
struct PaperProblem {
  using Net = sf::TwoLayer<S, Act, n, h, m>;
  using X = Eigen::Matrix<S, n, n>;
  using Y = Eigen::Matrix<S, m, n>;
  Net net;
  sf::Objective<Net, sf::MeanSquaredError, n> objective;
  typename Net::Params theta;

  PaperProblem() : objective(net, {}, X::Identity(), target()), theta(initial(net)) {}
  static Y target() {
    std::mt19937_64 rng(12345);
    return sf::random_normal<Y>(m, n, rng);
  }
  static typename Net::Params initial(const Net& net) {
    std::mt19937_64 rng(54321);
    return sf::random_params(net, rng, 0.1);
  }
};

/// Gradient descent on the paper's problem as one writes it without symflow: forward pass through
/// X, loss, back-propagation, update (tanh and the logistic function through Eigen's array
/// functions); quantity() is eq. (48) from its formula (Tr Q for the linear network). WithX = false
/// skips the products with X = I by hand, the stricter yardstick. Starts where PaperProblem does.
template <class S, class Act, bool WithX = true>
struct HandWrittenLoop {
  using V = Eigen::Matrix<S, h, n>;
  using U = Eigen::Matrix<S, m, h>;
  using Y = Eigen::Matrix<S, m, n>;
  V v;
  U u;
  const Eigen::Matrix<S, n, n> x = Eigen::Matrix<S, n, n>::Identity();
  const Y y = PaperProblem<S, Act>::target();
  S lr;

  explicit HandWrittenLoop(S learning_rate) : lr(learning_rate) { restart(); }
  void restart() {
    const PaperProblem<S, Act> p;
    v = p.net.template weight<1>(p.theta);
    u = p.net.template weight<2>(p.theta);
  }

  /// One step; returns the mean squared error before it.
  S step() {
    V z;
    if constexpr (WithX) z.noalias() = v * x;
    else z = v;
    V a;
    if constexpr (std::is_same_v<Act, sf::Identity>) a = z;
    if constexpr (std::is_same_v<Act, sf::ReLU>) a = z.cwiseMax(S(0));
    if constexpr (std::is_same_v<Act, sf::Tanh>) a = z.array().tanh().matrix();
    if constexpr (std::is_same_v<Act, sf::Sigmoid>) a = z.array().logistic().matrix();
    const Y r = u * a - y;
    const S loss = r.squaredNorm() / S(m * n);
    const Y g = (S(2) / S(m * n)) * r;
    const V back = u.transpose() * g;
    V dz;
    if constexpr (std::is_same_v<Act, sf::Identity>) dz = back;
    if constexpr (std::is_same_v<Act, sf::ReLU>) dz = (z.array() > S(0)).select(back, S(0));
    if constexpr (std::is_same_v<Act, sf::Tanh>) dz = back.array() * (S(1) - a.array().square());
    if constexpr (std::is_same_v<Act, sf::Sigmoid>) dz = back.array() * a.array() * (S(1) - a.array());
    u.noalias() -= lr * g * a.transpose();
    if constexpr (WithX) v.noalias() -= lr * dz * x.transpose();
    else v -= lr * dz;
    return loss;
  }

  S quantity() const {
    const S outgoing = S(0.5) * u.squaredNorm();
    if constexpr (std::is_same_v<Act, sf::Identity>) return v.squaredNorm() - u.squaredNorm();
    else if constexpr (std::is_same_v<Act, sf::ReLU>) return outgoing - S(0.5) * v.cwiseMax(S(0)).squaredNorm();
    else if constexpr (std::is_same_v<Act, sf::Tanh>) return outgoing - S(0.5) * v.array().sinh().square().sum();
    else return outgoing - (v.array() + v.array().exp() - S(1)).sum();  // sigmoid
  }
};

}  // namespace symflow_bench
