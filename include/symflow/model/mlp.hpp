// SPDX-License-Identifier: MIT
#pragma once
/// \file Multilayer perceptrons composed at compile time.
///
/// Mlp<Scalar, Activation, n0, n1, ..., nL> computes F(X) = W_L σ(W_{L-1} ⋯ σ(W_1 X)) for inputs
/// X ∈ R^{n0×k} (samples are columns), with W_i ∈ R^{n_i×n_{i−1}} numbered from 1 as in the paper
/// and no output activation. BiasedMlp adds b_i to each layer. Any width may be symflow::Dynamic
/// and is then given at construction. All parameters live in one flat vector θ ∈ R^d, layer by
/// layer: W_1 (column-major), [b_1], W_2, [b_2], …; weight<i>(θ) and bias<i>(θ) are Eigen::Map
/// views into it.

#include <algorithm>
#include <array>
#include <initializer_list>
#include <stdexcept>
#include <tuple>
#include <string>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/core/dual.hpp"
#include "symflow/model/activation.hpp"
#include "symflow/model/products.hpp"

namespace symflow {

namespace detail {

template <int... N>
constexpr int count_params(bool bias) {
  constexpr std::array<int, sizeof...(N)> w{N...};
  int total = 0;
  for (std::size_t i = 1; i < w.size(); ++i) {
    total = add_sizes(total, mul_sizes(w[i], w[i - 1]));
    if (bias) total = add_sizes(total, w[i]);
  }
  return total;
}

/// Two compile-time sizes that can be equal at run time.
constexpr bool may_equal(int a, int b) { return a == Dynamic || b == Dynamic || a == b; }

/// v equals the real number r in every part: the value and, for (nested) duals, every ε-part zero.
template <class S>
bool equals_exactly(const S& v, double r) {
  if constexpr (is_dual_v<S>) return equals_exactly(v.value, r) && equals_exactly(v.eps, 0.0);
  else return v == S(r);
}

/// X is a square matrix equal to the identity, entry for entry (dual entries with zero ε-parts).
template <class Derived>
bool is_identity(const Eigen::MatrixBase<Derived>& x) {
  if (x.rows() != x.cols()) return false;
  for (Index j = 0; j < x.cols(); ++j)
    for (Index i = 0; i < x.rows(); ++i) {
      if (!equals_exactly(x.coeff(i, j), i == j ? 1.0 : 0.0)) return false;
    }
  return true;
}

/// Calls f.template operator()<I>() for I = First, …, Last.
template <int First, int Last, class F>
constexpr void for_each_layer(F&& f) {
  if constexpr (First <= Last) {
    f.template operator()<First>();
    for_each_layer<First + 1, Last>(std::forward<F>(f));
  }
}

/// Multilayer perceptron; use the aliases symflow::Mlp and symflow::BiasedMlp.
template <class Scalar_, class Activation_, bool HasBias, int... Widths>
class Perceptron {
  static_assert(sizeof...(Widths) >= 2, "symflow::Mlp needs at least an input width and an output width");
  static_assert(((Widths > 0 || Widths == Dynamic) && ...), "symflow::Mlp widths must be positive or symflow::Dynamic");
  static_assert(Activation<Activation_>,
                "symflow::Mlp: the activation must provide value(z) and derivative(z) (elementwise) "
                "or apply(z) and pullback(z, g) (column-wise); see symflow/model/activation.hpp");

 public:
  using Scalar = Scalar_;
  using Activation = Activation_;
  /// Number of weight layers L; the hidden layers are 1, …, L − 1.
  static constexpr int depth = static_cast<int>(sizeof...(Widths)) - 1;
  static constexpr std::array<int, sizeof...(Widths)> static_widths{Widths...};
  static constexpr bool has_bias = HasBias;
  static constexpr bool is_fixed = ((Widths != Dynamic) && ...);
  /// d = Σ n_i n_{i−1} (+ Σ n_i with biases), or Dynamic.
  static constexpr int num_params = count_params<Widths...>(HasBias);
  static constexpr int input_width = static_widths.front();
  static constexpr int output_width = static_widths.back();

  using Params = Eigen::Matrix<Scalar, num_params, 1>;
  /// W_I ∈ R^{n_I × n_{I−1}}, I = 1, …, L.
  template <int I> using Weight = Eigen::Matrix<Scalar, static_widths[I], static_widths[I - 1]>;
  /// b_I ∈ R^{n_I}.
  template <int I> using Bias = Eigen::Matrix<Scalar, static_widths[I], 1>;
  /// Features of layer I for K samples: R^{n_I × K}.
  template <int I, int K> using Features = Eigen::Matrix<Scalar, static_widths[I], K>;
  /// The same architecture over another scalar (used for dual numbers).
  template <class S> using Rebind = Perceptron<S, Activation, HasBias, Widths...>;

  /// All widths fixed at compile time.
  explicit Perceptron(Activation act = {})
    requires is_fixed
      : Perceptron(std::array<Index, depth + 1>{Widths...}, std::move(act)) {}

  /// Widths given at run time; each must match the compile-time width where that is not Dynamic.
  explicit Perceptron(const std::array<Index, depth + 1>& widths, Activation act = {})
      : widths_(widths), activation_(std::move(act)) {
    Index offset = 0;
    for (int i = 0; i <= depth; ++i) {
      if (widths_[i] <= 0) throw std::invalid_argument("symflow::Mlp: width " + std::to_string(i) + " is " +
                                                       std::to_string(widths_[i]) + ", expected a positive number");
      if (static_widths[i] != Dynamic && widths_[i] != static_widths[i])
        throw std::invalid_argument("symflow::Mlp: width " + std::to_string(i) + " is " + std::to_string(widths_[i]) +
                                    ", but the model type fixes it to " + std::to_string(static_widths[i]));
    }
    for (int i = 1; i <= depth; ++i) {
      weight_offsets_[i] = offset;
      offset += widths_[i] * widths_[i - 1];
      bias_offsets_[i] = offset;
      if (HasBias) offset += widths_[i];
    }
    size_ = offset;
  }

  /// Widths as a list, {n0, n1, …, nL}: a list of another length is refused with both counts
  /// (as a std::array, missing widths would silently become 0).
  Perceptron(std::initializer_list<Index> widths, Activation act = {})
      : Perceptron(checked_widths(widths), std::move(act)) {}

  /// Same architecture and activation over another scalar type.
  template <class S>
  Rebind<S> cast() const { return Rebind<S>(widths_, activation_); }

  /// n_i, i = 0 (input), …, L (output).
  Index width(int i) const { return widths_[i]; }
  const std::array<Index, depth + 1>& widths() const { return widths_; }
  Index input_size() const { return widths_[0]; }
  Index output_size() const { return widths_[depth]; }
  /// d, the dimension of the parameter space.
  Index size() const { return size_; }
  const Activation& activation() const { return activation_; }

  /// Offset of W_i (and b_i) in θ.
  Index weight_offset(int i) const { return weight_offsets_[i]; }
  Index bias_offset(int i) const { return bias_offsets_[i]; }

  /// A zero parameter vector of the right length.
  Params zero_params() const { return Params::Zero(size_); }

  /// W_I as a view into θ (fixed-size where the widths are).
  template <int I, class Derived>
  Eigen::Map<Weight<I>> weight(Eigen::MatrixBase<Derived>& p) const {
    check_layer<I>();
    check_params(p);
    return Eigen::Map<Weight<I>>(p.derived().data() + weight_offsets_[I], widths_[I], widths_[I - 1]);
  }
  template <int I, class Derived>
  Eigen::Map<const Weight<I>> weight(const Eigen::MatrixBase<Derived>& p) const {
    check_layer<I>();
    check_params(p);
    return Eigen::Map<const Weight<I>>(p.derived().data() + weight_offsets_[I], widths_[I], widths_[I - 1]);
  }
  /// b_I as a view into θ; only for BiasedMlp.
  template <int I, class Derived>
  Eigen::Map<Bias<I>> bias(Eigen::MatrixBase<Derived>& p) const {
    static_assert(HasBias, "symflow: this model has no biases; use symflow::BiasedMlp");
    check_layer<I>();
    check_params(p);
    return Eigen::Map<Bias<I>>(p.derived().data() + bias_offsets_[I], widths_[I]);
  }
  template <int I, class Derived>
  Eigen::Map<const Bias<I>> bias(const Eigen::MatrixBase<Derived>& p) const {
    static_assert(HasBias, "symflow: this model has no biases; use symflow::BiasedMlp");
    check_layer<I>();
    check_params(p);
    return Eigen::Map<const Bias<I>>(p.derived().data() + bias_offsets_[I], widths_[I]);
  }

  /// W_i with a run-time layer index (dynamic-size view), for loops over layers.
  template <class Derived>
  Eigen::Map<Eigen::Matrix<Scalar, Dynamic, Dynamic>> weight_at(int i, Eigen::MatrixBase<Derived>& p) const {
    check_layer(i);
    check_params(p);
    return {p.derived().data() + weight_offsets_[i], widths_[i], widths_[i - 1]};
  }
  template <class Derived>
  Eigen::Map<const Eigen::Matrix<Scalar, Dynamic, Dynamic>> weight_at(int i, const Eigen::MatrixBase<Derived>& p) const {
    check_layer(i);
    check_params(p);
    return {p.derived().data() + weight_offsets_[i], widths_[i], widths_[i - 1]};
  }

  /// Throws std::invalid_argument unless θ has length d.
  template <class Derived>
  void check_params(const Eigen::MatrixBase<Derived>& p) const {
    static_assert(Derived::ColsAtCompileTime == 1, "symflow: parameters are a column vector");
    static_assert(std::is_same_v<typename Derived::Scalar, Scalar>,
                  "symflow: the parameter vector's scalar type differs from the model's");
    if constexpr (is_fixed && Derived::RowsAtCompileTime != Dynamic) {
      static_assert(Derived::RowsAtCompileTime == num_params,
                    "symflow: the parameter vector's length differs from the model's number of parameters");
    } else {
      detail::require_length("parameter vector θ", size_, p.size());
    }
  }

  /// What one forward pass keeps for back-propagation: a<0> = X, z<I> = W_I a<I−1> (+ b_I) and
  /// a<I> = σ(z<I>) for the hidden layers I = 1, …, L − 1; z<L> = F(X).
  template <int K>
  struct ForwardPass {
    template <int... I>
    static auto make(std::integer_sequence<int, I...>) -> std::tuple<Features<I, K>...>;
    using Layers = decltype(make(std::make_integer_sequence<int, depth + 1>{}));
    Layers z, a;
    /// X is exactly the identity (whitened input, k = n_0): W_1 X = W_1 and ∂L/∂W_1 = ∂L/∂z<1>, so
    /// both products with X are skipped (exact for finite weights: the products only add zeros).
    bool identity_input = false;
    template <int I> auto& pre() { return std::get<I>(z); }
    template <int I> const auto& pre() const { return std::get<I>(z); }
    template <int I> auto& post() { return std::get<I>(a); }
    template <int I> const auto& post() const { return std::get<I>(a); }
    const Features<depth, K>& output() const { return std::get<depth>(z); }
  };

  /// Runs the network on X and keeps every layer's features in `pass`.
  template <int K, class DerivedP, class DerivedX>
  void forward(const Eigen::MatrixBase<DerivedP>& p, const Eigen::MatrixBase<DerivedX>& x, ForwardPass<K>& pass) const {
    check_input(x);
    pass.template post<0>() = x;
    pass.identity_input = detail::is_identity(x);
    for_each_layer<1, depth>([&]<int I>() {
      auto& z = pass.template pre<I>();
      if constexpr (I == 1 && detail::may_equal(K, input_width)) {
        if (pass.identity_input) z = weight<1>(p);
        else detail::multiply(z, weight<1>(p), pass.template post<0>());
      } else {
        detail::multiply(z, weight<I>(p), pass.template post<I - 1>());
      }
      if constexpr (HasBias) z.colwise() += bias<I>(p);
      if constexpr (I < depth) pass.template post<I>() = detail::activate(activation_, z);
    });
  }

  /// F(X) = W_L σ(⋯ σ(W_1 X + b_1) ⋯) + b_L.
  template <class DerivedP, class DerivedX>
  Features<depth, DerivedX::ColsAtCompileTime> forward(const Eigen::MatrixBase<DerivedP>& p,
                                                       const Eigen::MatrixBase<DerivedX>& x) const {
    ForwardPass<DerivedX::ColsAtCompileTime> pass;
    forward(p, x, pass);
    return pass.output();
  }

  /// Back-propagation: given ∂L/∂F = `output_gradient` after forward(p, X, pass), writes ∂L/∂θ into
  /// `grad` (length d) and, when `input_gradient` is not null, ∂L/∂X into it. Without that argument
  /// the product W_1ᵀ·∂L/∂z_1 is not even compiled: it is an Eigen GEMM of its own type, about a
  /// second of compile time per model and scalar, that the parameter gradient never needs.
  template <int K, class DerivedP, class DerivedG>
  void backward(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass,
                const Features<depth, K>& output_gradient, Eigen::MatrixBase<DerivedG>& grad,
                Features<0, K>* input_gradient) const {
    check_params(grad);
    backward_from<depth, K, true>(p, pass, output_gradient, grad, input_gradient);
  }
  template <int K, class DerivedP, class DerivedG>
  void backward(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass,
                const Features<depth, K>& output_gradient, Eigen::MatrixBase<DerivedG>& grad) const {
    check_params(grad);
    backward_from<depth, K, false>(p, pass, output_gradient, grad, nullptr);
  }

  /// Throws std::invalid_argument unless X has n_0 rows.
  template <class DerivedX>
  void check_input(const Eigen::MatrixBase<DerivedX>& x) const {
    static_assert(DerivedX::RowsAtCompileTime == Dynamic || input_width == Dynamic ||
                      DerivedX::RowsAtCompileTime == input_width,
                  "symflow: the input X must have n_0 rows (samples are columns)");
    if (x.rows() != widths_[0])
      throw std::invalid_argument("symflow: input X has shape " + detail::shape_string(x.rows(), x.cols()) +
                                  ", expected " + std::to_string(widths_[0]) + " rows (samples are columns)");
  }

 private:
  template <int I, int K, bool WithInputGradient, class DerivedP, class DerivedG>
  void backward_from(const Eigen::MatrixBase<DerivedP>& p, const ForwardPass<K>& pass, const Features<I, K>& g,
                     Eigen::MatrixBase<DerivedG>& grad, Features<0, K>* input_gradient) const {
    auto w_grad = weight<I>(grad);
    if constexpr (I == 1 && detail::may_equal(K, input_width)) {
      if (pass.identity_input) w_grad = g;
      else detail::multiply_transposed(w_grad, g, pass.template post<0>());
    } else {
      detail::multiply_transposed(w_grad, g, pass.template post<I - 1>());
    }
    if constexpr (HasBias) bias<I>(grad) = g.rowwise().sum();
    if constexpr (I > 1) {
      Features<I - 1, K> back(widths_[I - 1], g.cols());
      detail::multiply(back, weight<I>(p).transpose(), g);
      detail::pullback_in_place(activation_, pass.template pre<I - 1>(), pass.template post<I - 1>(), back);
      backward_from<I - 1, K, WithInputGradient>(p, pass, back, grad, input_gradient);
    } else if constexpr (WithInputGradient) {
      if (input_gradient) detail::multiply(*input_gradient, weight<1>(p).transpose(), g);
    }
  }

  static std::array<Index, depth + 1> checked_widths(std::initializer_list<Index> widths) {
    if (widths.size() != static_cast<std::size_t>(depth + 1))
      throw std::invalid_argument("symflow::Mlp: " + std::to_string(widths.size()) + " widths given, but the model type has " +
                                  std::to_string(depth + 1) + " (n_0, …, n_" + std::to_string(depth) +
                                  ", input to output)");
    std::array<Index, depth + 1> out{};
    std::copy(widths.begin(), widths.end(), out.begin());
    return out;
  }

  template <int I>
  static constexpr void check_layer() {
    static_assert(I >= 1 && I <= depth, "symflow: layer index out of range (layers are numbered 1, …, L)");
  }
  void check_layer(int i) const {
    if (i < 1 || i > depth)
      throw std::out_of_range("symflow: layer " + std::to_string(i) + " does not exist; layers are 1, …, " +
                              std::to_string(depth));
  }

  std::array<Index, depth + 1> widths_{};
  std::array<Index, depth + 1> weight_offsets_{};
  std::array<Index, depth + 1> bias_offsets_{};
  Index size_ = 0;
  Activation activation_;
};

}  // namespace detail

/// MLP without biases (the paper's setting): Mlp<double, ReLU, n0, n1, …, nL>.
template <class Scalar, class Activation, int... Widths>
using Mlp = detail::Perceptron<Scalar, Activation, false, Widths...>;

/// MLP with a bias on every layer.
template <class Scalar, class Activation, int... Widths>
using BiasedMlp = detail::Perceptron<Scalar, Activation, true, Widths...>;

/// The two-layer block F(X) = U σ(V X) of the paper: input n, hidden h, output m;
/// V = weight<1>(θ) ∈ R^{h×n}, U = weight<2>(θ) ∈ R^{m×h}.
template <class Scalar, class Activation, int n, int h, int m>
using TwoLayer = Mlp<Scalar, Activation, n, h, m>;

template <class T> struct is_mlp : std::false_type {};
template <class S, class A, bool B, int... W> struct is_mlp<detail::Perceptron<S, A, B, W...>> : std::true_type {};

/// Any symflow multilayer perceptron type.
template <class T>
concept MlpModel = is_mlp<std::remove_cvref_t<T>>::value;

}  // namespace symflow
