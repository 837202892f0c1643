// SPDX-License-Identifier: MIT
#pragma once
/// \file The layers inside a residual block of a symflow::Sequential, as a layer list of their own
/// over the whole network's θ, so that the junction machinery reaches them:
///
///   using Net = Sequential<double, Input<4>, Dense<6>, ReLU,
///                          Residual<Dense<8, WithBias>, ReLU, Dense<6>>,   // layer 3
///                          Dense<2>>;
///   const auto block = symflow::residual_block<3>(net);   // layers 1, 2, 3 of f, numbered inside it
///   symflow::conserved<1>(block);                        // RescaleImbalance of f's junction 1
///   symflow::symmetry<1>(block);                         // ScalingAction on it, acting on θ of Net
///
/// Why a junction inside f keeps its group: y = x + f(x), and the group leaves f(x) unchanged for
/// every x (the argument for a junction of the top-level list applies to f alone), hence y and the
/// whole network. A group of the units of the residual stream x itself must commute with the skip,
/// g x + f(g x) = g (x + f(x)), which per-unit scaling and GL do not for a general f
/// (docs/models.md, "Residual blocks"): junctions across the skip have no symmetry symflow knows.
///
/// ResidualBlock<Net, R> has the members the junction quantities and the hidden-layer actions read
/// (Layer<J>, layer<J>(), offset(J), weight<J>(θ), bias<J>(θ), num_layers, Params, size(), …): layer J
/// of the block is layer J of f, and offset(J) is where its parameters start in the network's θ.
/// Blocks nest: residual_block<J>(residual_block<R>(net)) is a block inside a block.

#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/model/sequential.hpp"

namespace symflow {

/// The layers of the Residual block at layer R of Net (a Sequential, or a ResidualBlock for a block
/// inside a block), over Net's θ.
template <class Net, int R>
class ResidualBlock : public detail::LayerViews<ResidualBlock<Net, R>> {
  static_assert(R >= 1 && R <= Net::num_layers, "symflow::residual_block<R>: layers are numbered 1, …, num_layers");
  using BlockLayer = typename Net::template Layer<R>;
  static_assert(requires { requires BlockLayer::is_residual; },
                "symflow::residual_block<R>: layer R is not a symflow::Residual block");
  using Inner = typename BlockLayer::InnerChain;

 public:
  using Network = Net;
  using Scalar = typename Net::Scalar;
  using Params = typename Net::Params;
  /// The index of the block in Net.
  static constexpr int block = R;
  /// The number of layers of f; layers of the block are numbered 1, …, num_layers.
  static constexpr int num_layers = Inner::num_layers;
  static constexpr int depth = num_layers;
  static constexpr bool is_fixed = Net::is_fixed;
  template <int J> using Layer = typename Inner::template Layer<J>;
  template <class S> using Rebind = ResidualBlock<typename Net::template Rebind<S>, R>;

  ResidualBlock()
    requires Net::is_fixed
      : net_() {}
  explicit ResidualBlock(Net net) : net_(std::move(net)) {}

  /// The network the block belongs to.
  const Net& network() const { return net_; }
  /// The same block over another scalar type.
  template <class S> Rebind<S> cast() const { return Rebind<S>(net_.template cast<S>()); }

  /// Layer J (1, …, num_layers) of f.
  template <int J> const Layer<J>& layer() const {
    static_assert(J >= 1 && J <= num_layers, "symflow::ResidualBlock: the block's layers are numbered 1, …, num_layers");
    return inner().template layer<J>();
  }
  /// Where layer J of f starts in the network's θ.
  Index offset(int j) const { return net_.offset(R) + inner().offset(j); }
  /// d of the whole network (the block's quantities and actions take the network's θ).
  Index size() const { return net_.size(); }
  Params zero_params() const { return net_.zero_params(); }
  template <class Derived> void check_params(const Eigen::MatrixBase<Derived>& p) const { net_.check_params(p); }

  /// Weight and bias of layer J of f as views into the network's θ: weight<J>(θ), bias<J>(θ).
  using detail::LayerViews<ResidualBlock>::weight;
  using detail::LayerViews<ResidualBlock>::bias;

 private:
  const Inner& inner() const { return net_.template layer<R>().inner(); }
  Net net_;
};

template <class T> struct is_residual_block : std::false_type {};
template <class Net, int R> struct is_residual_block<ResidualBlock<Net, R>> : std::true_type {};

/// A list of layers the junction machinery reads: a Sequential, or the layers inside one of its
/// residual blocks.
template <class T>
concept LayerListModel = SequentialModel<T> || is_residual_block<std::remove_cvref_t<T>>::value;

/// The layers of the Residual block at layer R of `net` (a Sequential or a block), numbered inside it.
template <int R, LayerListModel Net>
ResidualBlock<Net, R> residual_block(const Net& net) {
  return ResidualBlock<Net, R>(net);
}

}  // namespace symflow
