// SPDX-License-Identifier: MIT
#pragma once
/// \file The junctions of a RuntimeSequential (symflow/model/runtime_sequential.hpp), at a layer
/// index known at run time: which symmetry a junction has, its conserved quantity and its group
/// action, with the formulas of the compile-time classes (symflow/junction/quantities.hpp and
/// actions.hpp evaluate the same functions on the same layers).
///
/// junction_kinds(net, i[, loss]) deduces the kinds from the layers after layer i exactly as
/// conserved<I>(net[, loss]) does (junction/conserved.hpp):
///
/// | after layer i (Dense or Conv2d)                       | kinds                                    |
/// | ----------------------------------------------------- | ---------------------------------------- |
/// | LayerNorm                                             | scale (one value); with Dense also translation |
/// | BatchNorm                                             | scale (one value per unit)               |
/// | GL-equivariant σ (Identity), then Dense/Conv2d        | linear (h × h)                           |
/// | positively homogeneous σ (ReLU, …), then Dense/Conv2d  | rescale (one value per unit)             |
/// | nothing (i is last), loss softmax cross-entropy, Dense | translation                              |
///
/// RuntimeJunction<S>(net, i, kind) is one of them: a quantity (value, form, derivative, as
/// RescaleImbalance, LinearImbalance, NormalizedScale, Translation) and an action (act, generator,
/// exp, algebra(), as RescaleJunctionAction, …), so orbit_dimension and teleport_to_steepest take it.
/// Values, group and algebra elements are matrices: h × 1 (rescale), h × h (linear), groups × 1
/// (scale), (in + 1) × 1 or in × 1 (translation: 1ᵀW, then 1ᵀb when the layer has a bias).

#include <array>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/LU>

#include "symflow/group/equivariance.hpp"
#include "symflow/junction/actions.hpp"
#include "symflow/junction/quantities.hpp"
#include "symflow/model/runtime_loss.hpp"
#include "symflow/model/runtime_sequential.hpp"

namespace symflow {

/// The four junction families (named as the quantities' name()).
enum class JunctionKind { rescale, linear_imbalance, scale, translation };

inline std::string to_string(JunctionKind kind) {
  switch (kind) {
    case JunctionKind::rescale: return "rescale";
    case JunctionKind::linear_imbalance: return "linear_imbalance";
    case JunctionKind::scale: return "scale";
    case JunctionKind::translation: return "translation";
  }
  return "unknown";
}

namespace detail {

/// What a layer of a RuntimeSequential is, as the junction table reads it.
struct RuntimeLayerFacts {
  bool parameterised = false;
  bool dense = false;
  bool normalization = false;
  bool per_channel = false;
  bool activation = false;
  bool general_linear = false;  // σ is GL-equivariant
  bool scaling = false;         // σ is positively homogeneous
  double degree = 1.0;          // its degree α
  double epsilon = 0.0;         // ε of a normalisation
};

template <class Layer>
RuntimeLayerFacts runtime_layer_facts(const Layer& layer) {
  return std::visit(
      [](const auto& l) {
        using L = std::remove_cvref_t<decltype(l)>;
        RuntimeLayerFacts f;
        f.parameterised = L::parameterised;
        f.dense = requires { requires L::is_dense; };
        if constexpr (requires { requires L::is_normalization; }) {
          f.normalization = true;
          f.per_channel = L::per_channel;
          f.epsilon = l.epsilon();
        }
        if constexpr (requires { typename L::ActivationType; }) {
          using A = typename L::ActivationType;
          f.activation = true;
          f.general_linear = GeneralLinearEquivariantActivation<A>;
          f.scaling = ScalingEquivariantActivation<A>;
          if constexpr (ScalingEquivariantActivation<A>) f.degree = homogeneity_degree(l.activation());
        }
        return f;
      },
      layer);
}

/// Calls f(l) with layer's Bound class when it has weights (Dense, Conv2d); R is f's result.
template <class R, class Layer, class F>
R with_weights(const Layer& layer, F&& f) {
  return std::visit(
      [&](const auto& l) -> R {
        if constexpr (std::remove_cvref_t<decltype(l)>::parameterised) return f(l);
        else throw std::logic_error("symflow::RuntimeJunction: the layer has no weights");
      },
      layer);
}

}  // namespace detail

/// The kinds of the junction that starts at layer i (1, …, layer_count()) of net, deduced from the
/// layers after it and, for the last layer, from the loss (nullptr: none). Throws
/// std::invalid_argument with conserved<I>'s sentence where the junction has no symmetry symflow knows.
template <class S>
std::vector<JunctionKind> junction_kinds(const RuntimeSequential<S>& net, Index i, const RuntimeLoss* loss = nullptr) {
  const auto at = [&](Index j) { return detail::runtime_layer_facts(net.layer(j)); };
  const detail::RuntimeLayerFacts l = at(i);
  const std::string where = "symflow::junction_kinds: layer " + std::to_string(i) + " (" + layer_name(net.spec(i)) + ")";
  if (!l.parameterised)
    throw std::invalid_argument(where + " has no weights; junctions are named by their first layer with weights (Dense or Conv2d)");
  const Index n = net.layer_count();
  if (i + 1 <= n && at(i + 1).normalization) {
    if (!at(i + 1).per_channel && l.dense) return {JunctionKind::scale, JunctionKind::translation};
    return {JunctionKind::scale};
  }
  if (i + 2 <= n && at(i + 1).activation && at(i + 2).parameterised) {
    const detail::RuntimeLayerFacts a = at(i + 1);
    if (a.general_linear) return {JunctionKind::linear_imbalance};
    if (a.scaling) return {JunctionKind::rescale};
    throw std::invalid_argument(where + ": the activation after it (" + layer_name(net.spec(i + 1)) +
                                ") has no linear symmetry (it is neither linear nor positively homogeneous), so this "
                                "junction conserves nothing symflow knows");
  }
  if (i == n) {
    if (!loss || !loss->holds<SoftmaxCrossEntropy>())
      throw std::invalid_argument(where + " is the last layer, which has a symmetry only under softmax cross-entropy "
                                  "(translation of every class's weights and bias)" +
                                  (loss ? "; the loss is " + loss->name() : std::string("; no loss was given")));
    if (!l.dense) throw std::invalid_argument(where + ": the translation of a softmax head needs a Dense layer");
    return {JunctionKind::translation};
  }
  throw std::invalid_argument(where + " is followed by neither a normalisation nor (activation, Dense or Conv2d)");
}

/// One symmetry family of the junction at layer i of a RuntimeSequential: its conserved quantity and
/// its group action.
template <class Scalar_>
class RuntimeJunction {
 public:
  using Scalar = Scalar_;
  using ModelType = RuntimeSequential<Scalar>;
  using Params = typename ModelType::Params;
  using Value = Eigen::Matrix<Scalar, Dynamic, Dynamic>;
  using Group = Value;
  using Algebra = Value;

  /// The junction at layer i of kind `kind`, which must be one junction_kinds(net, i, loss) lists
  /// (or rescale where it lists linear_imbalance: a linear σ is also homogeneous of degree 1).
  RuntimeJunction(ModelType net, Index i, JunctionKind kind, const RuntimeLoss* loss = nullptr)
      : net_(std::move(net)), i_(i), kind_(kind) {
    const std::vector<JunctionKind> kinds = junction_kinds(net_, i_, loss);
    bool allowed = false;
    std::string listed;
    for (JunctionKind k : kinds) {
      allowed = allowed || k == kind || (k == JunctionKind::linear_imbalance && kind == JunctionKind::rescale);
      listed += (listed.empty() ? "" : ", ") + to_string(k);
    }
    if (!allowed)
      throw std::invalid_argument("symflow::RuntimeJunction: the junction at layer " + std::to_string(i) + " has " +
                                  listed + ", not " + to_string(kind));
    if (kind_ == JunctionKind::rescale) degree_ = static_cast<Scalar>(detail::runtime_layer_facts(net_.layer(i_ + 1)).degree);
    if (kind_ == JunctionKind::scale) per_unit_ = detail::runtime_layer_facts(net_.layer(i_ + 1)).per_channel;
    const Index units = incoming<Index>([](const auto& a) { return a.out_units(); });
    if (kind_ == JunctionKind::rescale || kind_ == JunctionKind::linear_imbalance)
      detail::require_junction_units(kind_ == JunctionKind::rescale ? "RescaleImbalance" : "LinearImbalance", units,
                                     outgoing<Index>([](const auto& b) { return b.in_units(); }));
    switch (kind_) {
      case JunctionKind::rescale: shape_ = {units, 1}; break;
      case JunctionKind::linear_imbalance: shape_ = {units, units}; break;
      case JunctionKind::scale: shape_ = {per_unit_ ? units : 1, 1}; break;
      case JunctionKind::translation:
        shape_ = {net_.layer_input_shape(i_).size() + (layer_has_bias() ? 1 : 0), 1};
        break;
    }
  }

  const ModelType& model() const { return net_; }
  Index layer() const { return i_; }
  JunctionKind kind() const { return kind_; }
  std::string name() const { return to_string(kind_); }
  /// The quantity is linear in θ (translation) rather than a quadratic form.
  bool is_linear() const { return kind_ == JunctionKind::translation; }
  /// α of the rescale junction's activation (1 for the other kinds).
  Scalar degree() const { return degree_; }
  /// Shape of the quantity's value, of a group element and of an algebra element.
  Index rows() const { return shape_[0]; }
  Index cols() const { return shape_[1]; }

  /// B(x, y) of a quadratic kind (rescale, linear_imbalance, scale).
  Value form(const Params& x, const Params& y) const {
    net_.check_params(x);
    net_.check_params(y);
    switch (kind_) {
      // The compile-time forms (rescale_form, linear_form), each half on its own layer.
      case JunctionKind::rescale:
        return incoming<Value>([&](const auto& a) { return detail::incoming_dots(a, at(x, i_), at(y, i_)); }) -
               degree_ * outgoing<Value>([&](const auto& b) {
                 return detail::outgoing_dots<Dynamic>(b, at(x, i_ + 2), at(y, i_ + 2));
               });
      case JunctionKind::linear_imbalance:
        return incoming<Value>([&](const auto& a) { return detail::incoming_gram(a, at(x, i_), at(y, i_)); }) -
               outgoing<Value>([&](const auto& b) { return detail::outgoing_gram<Dynamic>(b, at(x, i_ + 2), at(y, i_ + 2)); });
      case JunctionKind::scale:
        return incoming<Value>([&](const auto& a) -> Value {
          if (per_unit_) return detail::normalized_scale_form<true>(a, at(x, i_), at(y, i_));
          return Value::Constant(1, 1, detail::normalized_scale_form<false>(a, at(x, i_), at(y, i_))(0));
        });
      case JunctionKind::translation: break;
    }
    throw std::logic_error("symflow::RuntimeJunction::form: the translation quantity is linear (use linear or value)");
  }
  /// A x of the linear kind (translation).
  Value linear(const Params& x) const {
    net_.check_params(x);
    if (kind_ != JunctionKind::translation)
      throw std::logic_error("symflow::RuntimeJunction::linear: the " + name() + " quantity is quadratic (use form or value)");
    return incoming<Value>([&](const auto& l) -> Value {
      if constexpr (requires { requires std::remove_cvref_t<decltype(l)>::is_dense; })
        return detail::translation_linear<Dynamic>(l, at(x, i_));
      else throw std::logic_error("symflow::RuntimeJunction: the translation needs a Dense layer");
    });
  }
  /// Q(θ).
  Value value(const Params& p) const { return is_linear() ? linear(p) : form(p, p); }
  /// d/dt Q(θ + tv) at t = 0, exactly.
  Value derivative(const Params& p, const Params& v) const {
    if (is_linear()) return linear(v);
    return form(p, v) + form(v, p);
  }
  /// Q(θ − ηg) − Q(θ) for g = ∇L(θ), exactly: η² B(g, g) (the cross term B(θ, ∇L) vanishes) for the
  /// quadratic kinds, −η A g for the linear one.
  Value gd_step_change(const Params& gradient, double learning_rate) const {
    const Scalar eta = static_cast<Scalar>(learning_rate);
    if (is_linear()) return -eta * linear(gradient);
    return eta * eta * form(gradient, gradient);
  }

  // The group and its algebra.
  detail::CoordinateAlgebra<Algebra> algebra() const { return {rows(), cols()}; }
  Group identity() const {
    switch (kind_) {
      case JunctionKind::linear_imbalance: return Group::Identity(rows(), cols());
      case JunctionKind::translation: return Group::Zero(rows(), cols());
      default: return Group::Ones(rows(), cols());
    }
  }
  Group compose(const Group& a, const Group& b) const {
    check_element("group element", a);
    check_element("group element", b);
    switch (kind_) {
      case JunctionKind::linear_imbalance: return a * b;
      case JunctionKind::translation: return a + b;
      default: return a.cwiseProduct(b);
    }
  }
  Group inverse(const Group& g) const {
    check_group(g);
    switch (kind_) {
      case JunctionKind::linear_imbalance: return g.inverse();
      case JunctionKind::translation: return -g;
      default: return g.cwiseInverse();
    }
  }
  Group exp(const Algebra& m) const {
    check_element("algebra element", m);
    switch (kind_) {
      case JunctionKind::linear_imbalance: return m.exp();
      case JunctionKind::translation: return m;
      default: return m.array().exp().matrix();
    }
  }

  /// g · θ.
  Params act(const Group& g, const Params& theta) const {
    net_.check_params(theta);
    check_group(g);
    switch (kind_) {
      case JunctionKind::rescale: {
        const Vector c = g.col(0), c_out = c.array().pow(-degree_).matrix();
        return act_on_units(theta, c.asDiagonal(), c_out.asDiagonal());
      }
      case JunctionKind::linear_imbalance: return act_on_units(theta, g, Value(g.inverse()));
      case JunctionKind::scale: {
        Params p = theta;
        scale(p, g);
        return p;
      }
      case JunctionKind::translation: break;
    }
    return theta + generator(g, theta);
  }
  /// M̄θ = d/dt exp(tM) · θ at t = 0.
  Params generator(const Algebra& m, const Params& theta) const {
    net_.check_params(theta);
    check_element("algebra element", m);
    switch (kind_) {
      case JunctionKind::rescale: {
        const Vector in = m.col(0), out = -degree_ * in;
        return generator_blocks(act_on_units(theta, in.asDiagonal(), out.asDiagonal()));
      }
      case JunctionKind::linear_imbalance: return generator_blocks(act_on_units(theta, m, Value(-m)));
      case JunctionKind::scale: {
        Params xi = Params::Zero(theta.size());
        const Index begin = net_.offset(i_), size = net_.layer_size(i_);
        xi.segment(begin, size) = theta.segment(begin, size);
        scale(xi, m);
        return xi;
      }
      case JunctionKind::translation: break;
    }
    Params xi = Params::Zero(theta.size());
    incoming<int>([&](const auto& l) {
      if constexpr (requires { requires std::remove_cvref_t<decltype(l)>::is_dense; })
        detail::translation_generator(l, xi.data() + net_.offset(i_), m.col(0));
      return 0;
    });
    return xi;
  }

 private:
  const Scalar* at(const Params& p, Index i) const { return p.data() + net_.offset(i); }

  using Vector = Eigen::Matrix<Scalar, Dynamic, 1>;

  // f(l) with the Bound class of the junction's incoming layer i, or of its outgoing layer i + 2:
  // each half of a form or an action visits one layer (4 + 4 layer types, not 4 × 4 pairs).
  template <class R, class F>
  R incoming(F&& f) const { return detail::with_weights<R>(net_.layer(i_), std::forward<F>(f)); }
  template <class R, class F>
  R outgoing(F&& f) const { return detail::with_weights<R>(net_.layer(i_ + 2), std::forward<F>(f)); }

  // act_on_junction: [W b] of layer i ← X [W b], the outgoing weights of layer i + 2 ← W (Y ⊗ I_P).
  template <class X, class Y>
  Params act_on_units(const Params& theta, const X& x, const Y& y) const {
    Params p = theta;
    incoming<int>([&](const auto& a) { detail::transform_incoming(a, p.data() + net_.offset(i_), x); return 0; });
    outgoing<int>([&](const auto& b) { detail::transform_outgoing(b, p.data() + net_.offset(i_ + 2), y); return 0; });
    return p;
  }
  Params generator_blocks(const Params& moved) const {
    return outgoing<Params>([&](const auto& b) {
      return detail::junction_blocks(moved, net_.offset(i_), net_.layer_size(i_), b, net_.offset(i_ + 2));
    });
  }
  void scale(Params& p, const Group& c) const {
    incoming<int>([&](const auto& l) {
      Scalar* block = p.data() + net_.offset(i_);
      if (per_unit_) detail::scale_groups<true>(l, block, c.col(0));
      else detail::scale_groups<false>(l, block, c.col(0));
      return 0;
    });
  }
  bool layer_has_bias() const {
    return incoming<bool>([](const auto& l) { return std::remove_cvref_t<decltype(l)>::has_bias; });
  }

  void check_element(const char* what, const Value& m) const {
    if (m.rows() != rows() || m.cols() != cols())
      throw std::invalid_argument("symflow::RuntimeJunction (" + name() + ", layer " + std::to_string(i_) + "): the " +
                                  what + " has shape " + detail::shape_string(m.rows(), m.cols()) + ", expected " +
                                  detail::shape_string(rows(), cols()));
  }
  // A group element: the right shape, positive entries for the scalings, invertible for GL_h.
  void check_group(const Group& g) const {
    check_element("group element", g);
    using std::isfinite;
    for (Index k = 0; k < g.size(); ++k)
      if (!isfinite(g(k)) || ((kind_ == JunctionKind::rescale || kind_ == JunctionKind::scale) && !(g(k) > Scalar(0))))
        throw std::invalid_argument("symflow::RuntimeJunction (" + name() + "): group element entry " + std::to_string(k) +
                                    " is " + std::to_string(static_cast<double>(g(k))) +
                                    (kind_ == JunctionKind::rescale || kind_ == JunctionKind::scale
                                         ? ", expected a finite number > 0"
                                         : ", expected a finite number"));
    if (kind_ == JunctionKind::linear_imbalance && !Eigen::FullPivLU<Value>(g).isInvertible())
      throw std::invalid_argument("symflow::RuntimeJunction (linear_imbalance): the group element is not invertible");
  }

  ModelType net_;
  Index i_;
  JunctionKind kind_;
  Scalar degree_{1};
  bool per_unit_ = false;
  std::array<Index, 2> shape_{1, 1};
};

}  // namespace symflow
