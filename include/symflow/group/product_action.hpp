// SPDX-License-Identifier: MIT
#pragma once
/// \file Several hidden layers transformed at once (§B.5, eqs. 17–18): for hidden layers i ∈ S with
/// group elements g_i,
///
///   g · W_i = g_i W_i π_{i−1}(g_{i−1})⁻¹,   g · b_i = g_i b_i,
///   M̄θ on W_i = M_i W_i − W_i dπ_{i−1}(M_{i−1}),   on b_i = M_i b_i,
///
/// with g_j = I and M_j = 0 for layers j ∉ S (the input and output layers never transform).
/// The factors act on different rows and columns, so they commute and the product is a group action;
/// its generator is the sum of the factors' generators.
///
/// Group and Lie-algebra elements are std::tuple of the factors' elements, in the order the factors
/// are given. ProductAlgebra numbers the basis factor after factor.

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "symflow/core/config.hpp"
#include "symflow/group/lie_algebra.hpp"

namespace symflow {

/// The direct sum of Lie algebras 𝔤_1 ⊕ … ⊕ 𝔤_r, with the product group G_1 × … × G_r.
template <class... Algebras>
class ProductAlgebra {
  static_assert(sizeof...(Algebras) >= 1, "symflow::ProductAlgebra needs at least one factor");

 public:
  using Scalar = typename std::tuple_element_t<0, std::tuple<Algebras...>>::Scalar;
  using Element = std::tuple<typename Algebras::Element...>;
  using GroupElement = std::tuple<typename Algebras::GroupElement...>;
  /// The factors' coordinates, concatenated.
  using Coordinates = Eigen::Matrix<Scalar, Dynamic, 1>;
  static constexpr std::size_t factors = sizeof...(Algebras);

  explicit ProductAlgebra(Algebras... a) : factors_(std::move(a)...) {}

  template <std::size_t I> const auto& factor() const { return std::get<I>(factors_); }

  /// Σ dim 𝔤_j.
  Index dimension() const {
    return std::apply([](const auto&... a) { return (a.dimension() + ...); }, factors_);
  }
  Element zero() const { return map([](const auto& a) { return a.zero(); }); }
  GroupElement identity() const { return map([](const auto& a) { return a.identity(); }); }

  /// The i-th basis element: the basis element of one factor, zero in the others.
  Element basis(Index i) const {
    detail::check_basis_index(i, dimension());
    Element e = zero();
    for_each([&](auto I) {
      const Index d = factor<I>().dimension();
      if (i >= 0 && i < d) std::get<I>(e) = factor<I>().basis(i);
      i -= d;
    });
    return e;
  }
  Coordinates coordinates(const Element& m) const {
    Coordinates c(dimension());
    Index offset = 0;
    for_each([&](auto I) {
      const Index d = factor<I>().dimension();
      c.segment(offset, d) = factor<I>().coordinates(std::get<I>(m));
      offset += d;
    });
    return c;
  }
  Element from_coordinates(const Coordinates& c) const {
    detail::require_length("product algebra coordinates", dimension(), c.size());
    Element m;
    Index offset = 0;
    for_each([&](auto I) {
      using C = typename std::tuple_element_t<I, std::tuple<Algebras...>>::Coordinates;
      const Index d = factor<I>().dimension();
      std::get<I>(m) = factor<I>().from_coordinates(C(c.segment(offset, d)));
      offset += d;
    });
    return m;
  }
  /// Each factor's random element, drawn in order from `rng`.
  template <class Rng>
  Element random(Rng& rng, double stddev = 1.0) const {
    Element m;
    for_each([&](auto I) { std::get<I>(m) = factor<I>().random(rng, stddev); });
    return m;
  }
  /// exp factor by factor.
  GroupElement exp(const Element& m) const {
    GroupElement g;
    for_each([&](auto I) { std::get<I>(g) = factor<I>().exp(std::get<I>(m)); });
    return g;
  }

 private:
  template <class F>
  void for_each(F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<factors>{});
  }
  template <class F>
  auto map(F&& f) const {
    return std::apply([&](const auto&... a) { return std::make_tuple(f(a)...); }, factors_);
  }

  std::tuple<Algebras...> factors_;
};

/// The product of actions on distinct hidden layers of one model (eq. 17), e.g.
/// ProductAction<ScalingAction<Net, 1>, ScalingAction<Net, 2>>. Each factor must provide
/// apply_inplace(g, θ) and add_generator(M, θ, out), as the hidden-layer actions do.
template <class... Actions>
class ProductAction {
  static_assert(sizeof...(Actions) >= 1, "symflow::ProductAction needs at least one factor");
  using First = std::tuple_element_t<0, std::tuple<Actions...>>;
  static_assert((std::is_same_v<typename Actions::Params, typename First::Params> && ...),
                "symflow::ProductAction: every factor must act on the same parameter space");
  static constexpr std::array<int, sizeof...(Actions)> layers_{Actions::layer...};
  static constexpr bool distinct_layers() {
    for (std::size_t a = 0; a < layers_.size(); ++a)
      for (std::size_t b = a + 1; b < layers_.size(); ++b)
        if (layers_[a] == layers_[b]) return false;
    return true;
  }
  static_assert(distinct_layers(), "symflow::ProductAction: each factor must act on a different hidden layer");

 public:
  using Scalar = typename First::Scalar;
  using Params = typename First::Params;
  using AlgebraType = ProductAlgebra<typename Actions::AlgebraType...>;
  /// (g_1, …, g_r), one element per factor.
  using Group = typename AlgebraType::GroupElement;
  /// (M_1, …, M_r), one element per factor.
  using Algebra = typename AlgebraType::Element;
  static constexpr std::size_t factors = sizeof...(Actions);

  explicit ProductAction(Actions... a)
      : actions_(std::move(a)...),
        algebra_(std::apply([](const auto&... x) { return AlgebraType(x.algebra()...); }, actions_)) {}

  template <std::size_t I> const auto& factor() const { return std::get<I>(actions_); }
  const AlgebraType& algebra() const { return algebra_; }

  Group identity() const { return algebra_.identity(); }
  /// Factor by factor, so that act(compose(a, b), θ) = act(a, act(b, θ)).
  Group compose(const Group& a, const Group& b) const {
    Group out;
    for_each([&](auto I) { std::get<I>(out) = std::get<I>(actions_).compose(std::get<I>(a), std::get<I>(b)); });
    return out;
  }
  Group inverse(const Group& g) const {
    Group out;
    for_each([&](auto I) { std::get<I>(out) = std::get<I>(actions_).inverse(std::get<I>(g)); });
    return out;
  }
  /// Factor by factor: the action of transpose(g) is the adjoint of the action of g.
  Group transpose(const Group& g) const {
    Group out;
    for_each([&](auto I) { std::get<I>(out) = std::get<I>(actions_).transpose(std::get<I>(g)); });
    return out;
  }
  Group exp(const Algebra& m) const { return algebra_.exp(m); }

  /// g·θ: every factor applied in turn (they commute).
  Params act(const Group& g, const Params& p) const {
    Params out = p;
    apply_inplace(g, out);
    return out;
  }
  /// M̄θ = Σ_j (M_j)‾θ (eq. 18).
  Params generator(const Algebra& m, const Params& p) const {
    Params out = std::get<0>(actions_).model().zero_params();
    add_generator(m, p, out);
    return out;
  }
  void apply_inplace(const Group& g, Params& p) const {
    for_each([&](auto I) { std::get<I>(actions_).apply_inplace(std::get<I>(g), p); });
  }
  void add_generator(const Algebra& m, const Params& p, Params& out) const {
    for_each([&](auto I) { std::get<I>(actions_).add_generator(std::get<I>(m), p, out); });
  }

 private:
  template <class F>
  void for_each(F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<factors>{});
  }

  std::tuple<Actions...> actions_;
  AlgebraType algebra_;
};

}  // namespace symflow
