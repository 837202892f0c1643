// SPDX-License-Identifier: MIT
#pragma once
/// \file A loss chosen at run time, by name, among symflow's losses (symflow/model/loss.hpp):
///
///   RuntimeLoss loss("softmax_cross_entropy");   // or "half_squared_error", "mean_squared_error"
///   Objective objective(net, loss, X, Y);
///
/// It forwards value(F, Y) and gradient(F, Y) to the loss it holds, over any scalar (dual numbers
/// included), so an Objective over a RuntimeLoss computes exactly what it computes over that loss.

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "symflow/model/loss.hpp"

namespace symflow {

class RuntimeLoss {
 public:
  /// The losses a RuntimeLoss can hold.
  using Variant = std::variant<HalfSquaredError, MeanSquaredError, SoftmaxCrossEntropy>;

  /// Half squared error.
  RuntimeLoss() = default;
  /// From any of the losses it can hold, or from the variant itself.
  template <class L>
    requires std::is_constructible_v<Variant, L>
  RuntimeLoss(L loss) : loss_(std::move(loss)) {}  // NOLINT(google-explicit-constructor): a loss is a RuntimeLoss
  /// The loss named `name` (the losses' name(): half_squared_error, mean_squared_error,
  /// softmax_cross_entropy); throws std::invalid_argument naming the choices otherwise.
  explicit RuntimeLoss(const std::string& name) : loss_(from_name(name)) {}

  template <class DF, class DY>
  typename DF::Scalar value(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    return std::visit([&](const auto& l) { return l.value(f, y); }, loss_);
  }
  template <class DF, class DY>
  typename DF::PlainObject gradient(const Eigen::MatrixBase<DF>& f, const Eigen::MatrixBase<DY>& y) const {
    return std::visit([&](const auto& l) -> typename DF::PlainObject { return l.gradient(f, y); }, loss_);
  }

  /// The loss it holds is L (e.g. holds<SoftmaxCrossEntropy>()).
  template <class L> bool holds() const { return std::holds_alternative<L>(loss_); }
  std::string name() const { return name_of(loss_); }
  const Variant& variant() const { return loss_; }

 private:
  static std::string name_of(const Variant& v) {
    return std::visit([](const auto& l) { return l.name(); }, v);
  }
  static Variant from_name(const std::string& name) {
    const Variant all[] = {HalfSquaredError{}, MeanSquaredError{}, SoftmaxCrossEntropy{}};
    std::string choices;
    for (const Variant& v : all) {
      if (name_of(v) == name) return v;
      choices += (choices.empty() ? "" : ", ") + name_of(v);
    }
    throw std::invalid_argument("symflow::RuntimeLoss: unknown loss '" + name + "' (expected one of " + choices + ")");
  }
  Variant loss_;
};

}  // namespace symflow
