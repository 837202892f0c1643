// SPDX-License-Identifier: MIT
#pragma once
/// \file Lockstep batches of independent runs: W runs of one fixed-size multilayer perceptron, each
/// with its own θ and its own data (X, Y), evaluated together with the run index as the innermost,
/// contiguous dimension (structure of arrays), so that every multiply-add of the forward and
/// backward passes fills a SIMD register with W runs.
///
/// Layout. Entry i of θ for run (lane) l lives at data()[i·W + l]: the d entries of θ, each a
/// vector of W lanes. Features of layer I for K samples are n_I × K matrices of lane vectors,
/// column-major, so that a lane vector is never split. A single run's code applies to each lane:
/// the same forward pass, loss, back-propagation and gradient as Objective, with products summed
/// over their inner index in increasing order (one fused multiply-add per term where the target
/// has FMA). A lane therefore follows its single run up to rounding, not bit for bit: Objective
/// multiplies through Eigen's blocked products, which sum in another order.
///
/// Why lanes and not threads: at the paper's size (10, 50, 5) a step is ~9 000 multiply-adds over
/// matrices too small to fill the vector units one run at a time; W runs side by side make every
/// operation a full-width SIMD operation with no shuffles.

#include <algorithm>
#include <array>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/activations.hpp"
#include "symflow/model/loss.hpp"
#include "symflow/model/mlp.hpp"
#include "symflow/model/objective.hpp"

namespace symflow {

/// Lanes per batch that fill one SIMD register of the target (8 doubles or 16 floats with
/// AVX-512, 4 or 8 with AVX, 2 or 4 with SSE2).
template <class Scalar>
inline constexpr int native_lanes = Eigen::internal::packet_traits<Scalar>::size;

/// θ of W runs of a fixed-size model, lanes innermost: entry i of run l at data()[i·W + l].
template <MlpModel Net, int W = native_lanes<typename Net::Scalar>>
class BatchParams {
  static_assert(W >= 1, "symflow::BatchParams: a batch has at least one lane");

 public:
  using Model = Net;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  static constexpr int lanes = W;
  /// One value per lane (a loss, a time, a quantity).
  using Lanes = Eigen::Array<Scalar, W, 1>;
  /// Column i holds entry i of θ in every lane.
  using Storage = Eigen::Array<Scalar, W, Dynamic>;

  /// d entries of W lanes, all zero.
  explicit BatchParams(Index d) : data_(Storage::Zero(W, d)) {}
  /// For the model `net`.
  explicit BatchParams(const Net& net) : BatchParams(net.size()) {}

  /// d.
  Index size() const { return data_.cols(); }
  /// θ of run `lane` (a copy).
  Params lane(int l) const {
    check_lane(l);
    Params p(size());
    for (Index i = 0; i < size(); ++i) p[i] = data_(l, i);
    return p;
  }
  /// Sets θ of run `lane`.
  template <class D>
  void set_lane(int l, const Eigen::MatrixBase<D>& p) {
    check_lane(l);
    detail::require_length("parameter vector θ of a lane", size(), p.size());
    for (Index i = 0; i < size(); ++i) data_(l, i) = p[i];
  }
  /// Sets every lane to θ.
  template <class D>
  void set_all(const Eigen::MatrixBase<D>& p) {
    for (int l = 0; l < W; ++l) set_lane(l, p);
  }
  /// Entry i of θ in every lane.
  auto entry(Index i) { return data_.col(i); }
  auto entry(Index i) const { return data_.col(i); }
  Scalar* data() { return data_.data(); }
  const Scalar* data() const { return data_.data(); }
  Storage& storage() { return data_; }
  const Storage& storage() const { return data_; }

 private:
  static void check_lane(int l) {
    if (l < 0 || l >= W)
      throw std::out_of_range("symflow::BatchParams: lane " + std::to_string(l) + " does not exist; lanes are 0, …, " +
                              std::to_string(W - 1));
  }
  Storage data_;
};

namespace detail {

/// W scalars, one per lane: an entry of θ or of a feature in every run. Eigen evaluates arithmetic
/// on (maps of) these with SIMD packets of the width that divides W, at any optimisation level.
template <class S, int W>
using LaneVector = Eigen::Array<S, W, 1>;
template <int W, class S>
Eigen::Map<LaneVector<S, W>> lanes_at(S* p) {
  return Eigen::Map<LaneVector<S, W>>(p);
}
template <int W, class S>
Eigen::Map<const LaneVector<S, W>> lanes_at(const S* p) {
  return Eigen::Map<const LaneVector<S, W>>(p);
}

/// A lane vector as SIMD packets: `count` packets of `size` scalars (the widest packet that divides
/// W, or single scalars), for the innermost kernels, whose packet operations always inline; Eigen's
/// assignment loops over LaneVector maps were left as calls by g++ at W = 4.
template <class S, int W>
struct LanePackets {
  using Best = typename Eigen::internal::find_best_packet<S, W>::type;
  using Packet = std::conditional_t<W % Eigen::internal::unpacket_traits<Best>::size == 0, Best, S>;
  static constexpr int size = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int count = W / size;
};

/// One rb × cb block of lane_product: rb·cb lane vectors of sums stay in registers while t runs.
/// The sums are unrolled at compile time (a pack over the block's packets), so that no compiler
/// keeps them in memory: g++ at -O2 did, at the cost of a store per multiply-add.
template <int W, int R, int T, int ARS, int ATS, int BTS, int BCS, bool Accumulate, int rb, int cb, class S>
inline void lane_product_block(S* __restrict out, const S* __restrict a, const S* __restrict b, int r0, int c0) {
  using namespace Eigen::internal;
  using LP = LanePackets<S, W>;
  using P = typename LP::Packet;
  constexpr int np = LP::count, ps = LP::size;
  // Packet k: entry e = k / np of the block (row e / cb, column e % cb), its part k % np.
  const auto at = [&](int k) { return (r0 + k / np / cb + (c0 + k / np % cb) * R) * W + k % np * ps; };
  [&]<int... k>(std::integer_sequence<int, k...>) {
    P acc[sizeof...(k)];
    if constexpr (Accumulate) ((acc[k] = ploadu<P>(out + at(k))), ...);
    else ((acc[k] = pset1<P>(S(0))), ...);
    for (int t = 0; t < T; ++t)
      ((acc[k] = pmadd(ploadu<P>(a + ((r0 + k / np / cb) * ARS + t * ATS) * W + k % np * ps),
                       ploadu<P>(b + (t * BTS + (c0 + k / np % cb) * BCS) * W + k % np * ps), acc[k])),
       ...);
    (pstoreu(out + at(k), acc[k]), ...);
  }(std::make_integer_sequence<int, rb * cb * np>{});
}

/// out(r, c) = Σ_t a(r, t)·b(t, c) (+= when Accumulate) in every lane, t in increasing order.
/// Matrices are arrays of lane vectors; a(r, t) is at a[(r·ARS + t·ATS)·W], b(t, c) at
/// b[(t·BTS + c·BCS)·W] and out(r, c) at out[(r + c·R)·W]. Blocks of RB × CB outputs (all rows
/// up to 6, else 4; as many columns as make 12) keep their sums in registers while t runs, so each
/// loaded lane vector of a feeds CB multiply-adds and each of b feeds RB.
template <int W, int R, int T, int C, int ARS, int ATS, int BTS, int BCS, bool Accumulate = false, class S>
void lane_product(S* __restrict out, const S* __restrict a, const S* __restrict b) {
  // Up to 12 lane vectors of sums: enough independent chains to hide the multiply-add latency.
  constexpr int RB = R <= 6 ? R : 4, CB = std::max(1, std::min(C, 12 / RB));
  constexpr int r_full = R / RB * RB, c_full = C / CB * CB;
  for (int c0 = 0; c0 < c_full; c0 += CB) {
    for (int r0 = 0; r0 < r_full; r0 += RB)
      lane_product_block<W, R, T, ARS, ATS, BTS, BCS, Accumulate, RB, CB>(out, a, b, r0, c0);
    if constexpr (R % RB != 0)
      lane_product_block<W, R, T, ARS, ATS, BTS, BCS, Accumulate, R % RB, CB>(out, a, b, r_full, c0);
  }
  if constexpr (C % CB != 0) {
    for (int r0 = 0; r0 < r_full; r0 += RB)
      lane_product_block<W, R, T, ARS, ATS, BTS, BCS, Accumulate, RB, C % CB>(out, a, b, r0, c_full);
    if constexpr (R % RB != 0)
      lane_product_block<W, R, T, ARS, ATS, BTS, BCS, Accumulate, R % RB, C % CB>(out, a, b, r_full, c_full);
  }
}

/// Σ_i f(x_i) over `count` lane vectors x_i = x[i·W .. i·W + W), per lane: f maps a lane vector (a
/// map of W scalars S) to W values of A. Four interleaved partial sums (entries i ≡ 0, 1, 2, 3 mod 4,
/// added at the end) so that the additions do not wait on one another.
template <int W, class A, class S, class F>
void lane_sum(A* __restrict out, const S* __restrict x, Index count, F&& f) {
  using V = LaneVector<A, W>;
  V p0 = V::Zero(), p1 = V::Zero(), p2 = V::Zero(), p3 = V::Zero();
  Index i = 0;
  for (; i + 4 <= count; i += 4) {
    p0 += f(lanes_at<W>(x + i * W));
    p1 += f(lanes_at<W>(x + (i + 1) * W));
    p2 += f(lanes_at<W>(x + (i + 2) * W));
    p3 += f(lanes_at<W>(x + (i + 3) * W));
  }
  if (i < count) p0 += f(lanes_at<W>(x + i++ * W));
  if (i < count) p1 += f(lanes_at<W>(x + i++ * W));
  if (i < count) p2 += f(lanes_at<W>(x + i * W));
  lanes_at<W>(out) = (p0 + p1) + (p2 + p3);
}

/// f applied to fixed-size lane chunks (Eigen arrays of N = 32·W scalars, then of W), so that an
/// activation's whole-array SIMD members run packet by packet with no allocation.
template <int W, class S, class F>
void for_lane_chunks(Index count, S* out, const S* in, F&& f) {
  constexpr int N = 32 * W;
  Index i = 0;
  for (; i + N <= count; i += N)
    f(Eigen::Map<Eigen::Array<S, N, 1>>(out + i), Eigen::Map<const Eigen::Array<S, N, 1>>(in + i));
  for (; i < count; i += W)
    f(Eigen::Map<Eigen::Array<S, W, 1>>(out + i), Eigen::Map<const Eigen::Array<S, W, 1>>(in + i));
}

template <class L>
inline constexpr bool batched_loss_v = std::is_same_v<L, HalfSquaredError> || std::is_same_v<L, MeanSquaredError>;

}  // namespace detail

/// The objective of W runs at once: run l has the loss of its own Objective (model, loss, X_l, Y_l),
/// all of one type Obj with fixed sizes. value_and_gradient gives every lane's L and ∇L.
/// Fewer than W runs fill the first lanes; the others repeat run 0 and are `padding`.
template <class Obj, int W = native_lanes<typename Obj::Scalar>>
class BatchObjective {
 public:
  using Single = Obj;
  using Model = typename Obj::ModelType;
  using LossType = typename Obj::LossType;
  using Scalar = typename Obj::Scalar;
  using Params = BatchParams<Model, W>;
  using Lanes = typename Params::Lanes;
  static constexpr int lanes = W;
  static constexpr int K = Obj::samples_at_compile_time;
  static constexpr int depth = Model::depth;

  static_assert(Model::is_fixed && K != Dynamic,
                "symflow::BatchObjective: batches need a model and a sample count fixed at compile time "
                "(Mlp<Scalar, Act, n0, ..., nL> and an input with a fixed number of columns)");
  static_assert(ElementwiseActivation<typename Model::Activation>,
                "symflow::BatchObjective: the hidden activation must act entry by entry; a column activation "
                "(Radial) mixes a column's entries: run it one run at a time with symflow::run");
  static_assert(detail::batched_loss_v<LossType>,
                "symflow::BatchObjective: batched losses are HalfSquaredError and MeanSquaredError");

  /// Runs 1 … W, each an Objective of the same type; X and Y may differ between runs.
  explicit BatchObjective(std::span<const Obj> runs)
      : model_(runs.empty() ? throw std::invalid_argument("symflow::BatchObjective: no runs given; expected 1 to " +
                                                          std::to_string(W))
                            : runs.front().model()),
        runs_(static_cast<int>(runs.size())) {
    if (runs.size() > static_cast<std::size_t>(W))
      throw std::invalid_argument("symflow::BatchObjective: " + std::to_string(runs.size()) +
                                  " runs given for a batch of " + std::to_string(W) + " lanes");
    x_.resize(W, Model::input_width * K);
    y_.resize(W, Model::output_width * K);
    identity_input_ = true;
    for (int l = 0; l < W; ++l) {
      const Obj& r = runs[static_cast<std::size_t>(l < runs_ ? l : 0)];
      identity_input_ = identity_input_ && detail::is_identity(r.inputs());
      for (Index i = 0; i < r.inputs().size(); ++i) x_(l, i) = r.inputs().data()[i];
      for (Index i = 0; i < r.targets().size(); ++i) y_(l, i) = r.targets().data()[i];
    }
  }
  /// One run in every lane.
  explicit BatchObjective(const Obj& run) : BatchObjective(std::span<const Obj>(&run, 1)) {}

  const Model& model() const { return model_; }
  /// Lanes holding a run (the first `runs()`); the rest are padding.
  int runs() const { return runs_; }
  bool padding(int l) const { return l >= runs_; }
  Index size() const { return model_.size(); }
  /// Every lane's X is exactly the identity: the products with X are skipped, as Objective does.
  bool identity_input() const { return identity_input_; }

  /// The forward pass's features of every layer, kept for back-propagation, and the gradient
  /// buffers: allocated once per batch, reused at every step.
  struct Workspace {
    std::array<Eigen::Array<Scalar, W, Dynamic>, depth + 1> z, a;
    Eigen::Array<Scalar, W, Dynamic> g, back;
    /// Where z<I> is: z[I], or W_1 inside θ itself when X = I and there is no bias.
    std::array<const Scalar*, depth + 1> pre{};
    /// Where σ(z<I>) is: a[I], or z<I> itself for the identity.
    std::array<const Scalar*, depth + 1> post{};
    Workspace() {
      std::size_t i = 0;
      for_each_width([&](Index n) {
        z[i].resize(W, n * K);
        a[i].resize(W, n * K);
        ++i;
      });
      g.resize(W, max_width() * K);
      back.resize(W, max_width() * K);
    }
  };

  /// Every lane's L(θ_l), writing ∇L(θ_l) into `grad`.
  Lanes value_and_gradient(const Params& theta, Params& grad, Workspace& ws) const {
    check(theta, "θ");
    check(grad, "gradient");
    forward(theta.data(), ws);
    Lanes loss = output_gradient(ws);
    backward(theta.data(), grad.data(), ws);
    return loss;
  }
  /// Every lane's L(θ_l) and ∇L(θ_l) (allocates a workspace; prefer the three-argument form in loops).
  Lanes value_and_gradient(const Params& theta, Params& grad) const {
    Workspace ws;
    return value_and_gradient(theta, grad, ws);
  }

 private:
  static constexpr int width(int i) { return Model::static_widths[static_cast<std::size_t>(i)]; }
  static constexpr Index max_width() { return *std::max_element(Model::static_widths.begin(), Model::static_widths.end()); }
  template <class F>
  static void for_each_width(F&& f) {
    for (int i = 0; i <= depth; ++i) f(Index(width(i)));
  }
  void check(const Params& p, const char* what) const {
    if (p.size() != model_.size())
      throw std::invalid_argument(std::string("symflow::BatchObjective: the batch ") + what + " has " +
                                  std::to_string(p.size()) + " entries per lane, expected d = " +
                                  std::to_string(model_.size()));
  }

  void forward(const Scalar* theta, Workspace& ws) const {
    detail::for_each_layer<1, depth>([&]<int I>() {
      constexpr int rows = width(I), cols = width(I - 1);
      const Scalar* w = theta + model_.weight_offset(I) * W;
      Scalar* z = ws.z[I].data();
      ws.pre[I] = z;
      if constexpr (I == 1) {
        if (identity_input_ && !Model::has_bias) ws.pre[I] = w;  // W_1 X = W_1: no copy
        else if (identity_input_) std::copy(w, w + rows * cols * W, z);
        else detail::lane_product<W, rows, cols, K, 1, rows, 1, cols>(z, w, x_.data());
      } else {
        detail::lane_product<W, rows, cols, K, 1, rows, 1, cols>(z, w, ws.post[I - 1]);
      }
      if constexpr (Model::has_bias) {
        const Scalar* b = theta + model_.bias_offset(I) * W;
        for (int j = 0; j < K; ++j)
          for (int r = 0; r < rows; ++r)
            for (int l = 0; l < W; ++l) z[(r + j * rows) * W + l] += b[r * W + l];
      }
      if constexpr (I < depth) {
        if constexpr (std::is_same_v<typename Model::Activation, Identity>) {
          ws.post[I] = ws.pre[I];
        } else {
          activate(rows * K * W, ws.a[I].data(), ws.pre[I]);
          ws.post[I] = ws.a[I].data();
        }
      }
    });
  }

  void activate(Index count, Scalar* out, const Scalar* in) const {
    using Act = typename Model::Activation;
    const Act& act = model_.activation();
    if constexpr (std::is_same_v<Act, ReLU>) {
      // ReLU has no whole-array member: σ(z) = z < 0 ? 0 : z, as ReLU::value, a packet at a time.
      using namespace Eigen::internal;
      using P = typename detail::LanePackets<Scalar, W>::Packet;
      constexpr int ps = detail::LanePackets<Scalar, W>::size;
      const P zero = pset1<P>(Scalar(0));
      for (Index i = 0; i < count; i += ps) {
        const P z = ploadu<P>(in + i);
        pstoreu(out + i, pselect(pcmp_lt(z, zero), zero, z));
      }
    } else if constexpr (std::is_same_v<Act, Tanh> && detail::simd_real_v<Scalar>) {
      // Tanh's kernel, skipping the exponential in packets of small pre-activations: the same values.
      detail::for_lane_chunks<W>(count, out, in, [](auto o, auto z) { o = z.unaryExpr(detail::TanhLaneKernel<Scalar>{}); });
    } else if constexpr (std::is_same_v<Act, Sigmoid> && detail::simd_real_v<Scalar>) {
      // σ = ½ + ½ tanh(z/2) by tanh's rational branch in packets of small pre-activations.
      detail::for_lane_chunks<W>(count, out, in, [](auto o, auto z) { o = z.unaryExpr(detail::SigmoidLaneKernel<Scalar>{}); });
    } else {
      detail::for_lane_chunks<W>(count, out, in, [&](auto o, auto z) { detail::assign_values(act, o, z); });
    }
  }

  /// L per lane, and ∂L/∂F into ws.g (m × K lane vectors).
  Lanes output_gradient(Workspace& ws) const {
    constexpr int count = Model::output_width * K;
    const Scalar* f = ws.pre[depth];
    Scalar* g = ws.g.data();
    const Scalar* y = y_.data();
    using namespace Eigen::internal;
    using LP = detail::LanePackets<Scalar, W>;
    using P = typename LP::Packet;
    constexpr int np = LP::count, ps = LP::size;
    const Scalar c = std::is_same_v<LossType, HalfSquaredError> ? Scalar(1) : Scalar(2) / Scalar(static_cast<double>(count));
    P sum[np];
    for (int j = 0; j < np; ++j) sum[j] = pset1<P>(Scalar(0));
    for (int i = 0; i < count; ++i)
      for (int j = 0; j < np; ++j) {
        const Index k = i * W + j * ps;
        const P r = psub(ploadu<P>(f + k), ploadu<P>(y + k));
        if constexpr (std::is_same_v<LossType, HalfSquaredError>) pstoreu(g + k, r);
        else pstoreu(g + k, pmul(pset1<P>(c), r));
        sum[j] = pmadd(r, r, sum[j]);
      }
    Lanes loss;
    for (int j = 0; j < np; ++j) pstoreu(loss.data() + j * ps, sum[j]);
    if constexpr (std::is_same_v<LossType, HalfSquaredError>) return Scalar(0.5) * loss;
    else return loss / Scalar(static_cast<double>(count));
  }

  void backward(const Scalar* theta, Scalar* grad, Workspace& ws) const {
    backward_from<depth>(theta, grad, ws, ws.g.data(), ws.back.data());
  }

  /// g holds ∂L/∂z<I> (n_I × K lane vectors); `spare` is the other buffer.
  template <int I>
  void backward_from(const Scalar* theta, Scalar* grad, Workspace& ws, Scalar* g, Scalar* spare) const {
    constexpr int rows = width(I), cols = width(I - 1);
    Scalar* gw = grad + model_.weight_offset(I) * W;
    if constexpr (I == 1) {
      // ∂L/∂W_1 = ∂L/∂z<1> Xᵀ; with X = I it is ∂L/∂z<1>, which layer 2 wrote there directly.
      if (identity_input_) {
        if (g != gw) std::copy(g, g + rows * cols * W, gw);
      } else {
        detail::lane_product<W, rows, K, cols, 1, rows, cols, 1>(gw, g, x_.data());
      }
    } else {
      detail::lane_product<W, rows, K, cols, 1, rows, cols, 1>(gw, g, ws.post[I - 1]);
    }
    if constexpr (Model::has_bias) {
      Scalar* gb = grad + model_.bias_offset(I) * W;
      for (int r = 0; r < rows; ++r)
        for (int l = 0; l < W; ++l) {
          Scalar s = g[r * W + l];
          for (int j = 1; j < K; ++j) s += g[(r + j * rows) * W + l];
          gb[r * W + l] = s;
        }
    }
    if constexpr (I > 1) {
      // ∂L/∂z<I−1> = (W_Iᵀ g) ⊙ σ'(z<I−1>); for I − 1 = 1 with X = I straight into ∂L/∂W_1 (no
      // bias: its gradient is the row sums of this same matrix, read above before it is reused).
      Scalar* next = spare;
      if constexpr (I == 2 && !Model::has_bias) {
        if (identity_input_) next = grad + model_.weight_offset(1) * W;
      }
      const Scalar* w = theta + model_.weight_offset(I) * W;
      detail::lane_product<W, cols, rows, K, rows, 1, 1, rows>(next, w, g);
      pull_back(cols * K * W, next, ws.pre[I - 1], ws.post[I - 1]);
      backward_from<I - 1>(theta, grad, ws, next, g);
    }
  }

  void pull_back(Index count, Scalar* g, const Scalar* z, const Scalar* a) const {
    using Act = typename Model::Activation;
    const Act& act = model_.activation();
    if constexpr (std::is_same_v<Act, Identity>) {
      return;
    } else if constexpr (std::is_same_v<Act, ReLU>) {
      // g ⊙= σ'(z) with σ'(z) = z > 0 ? 1 : 0, as ReLU::derivative, a packet at a time.
      using namespace Eigen::internal;
      using P = typename detail::LanePackets<Scalar, W>::Packet;
      constexpr int ps = detail::LanePackets<Scalar, W>::size;
      const P zero = pset1<P>(Scalar(0)), one = pset1<P>(Scalar(1));
      for (Index i = 0; i < count; i += ps)
        pstoreu(g + i, pmul(ploadu<P>(g + i), pselect(pcmp_lt(zero, ploadu<P>(z + i)), one, zero)));
    } else {
      constexpr int N = 32 * W;
      const auto apply = [&]<int n>(Index i) {
        Eigen::Map<Eigen::Array<Scalar, n, 1>> gm(g + i);
        const Eigen::Map<const Eigen::Array<Scalar, n, 1>> zm(z + i), am(a + i);
        detail::multiply_derivatives(act, gm, zm, am);
      };
      Index i = 0;
      for (; i + N <= count; i += N) apply.template operator()<N>(i);
      for (; i < count; i += W) apply.template operator()<W>(i);
    }
  }

  Model model_;
  int runs_;
  bool identity_input_ = false;
  /// X and Y of every lane, entries in column-major order, lanes innermost.
  Eigen::Array<Scalar, W, Dynamic> x_, y_;
};

}  // namespace symflow
