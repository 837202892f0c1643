// SPDX-License-Identifier: MIT
// symflow._symflow._count_output_laws / _count_loss_laws / account_for_laws: the number of
// conservation laws of gradient flow at θ (symflow/analysis/conservation_laws.hpp) for a model
// composed at run time, over float64. The fields run in nested dual numbers up to Dual³<double>
// (brackets of length ≤ 4), which instantiates every run-time layer over four scalars: this unit
// alone, so that it compiles beside the others.

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>

#include <symflow/analysis/conservation_laws.hpp>
#include <symflow/conserved/runtime_elementwise_quantity.hpp>
#include <symflow/junction/runtime_junction.hpp>
#include <symflow/model/runtime_loss.hpp>

#include "arrays.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace symflow::python {

namespace {

/// The longest bracket the module evaluates: every count in docs/conservation-laws.md settles by it.
constexpr int max_depth = default_max_bracket_depth;

ConservationLawOptions options_from(int depth, double threshold, int patience, std::uint64_t seed) {
  ConservationLawOptions o;
  o.max_depth = depth;
  o.threshold = threshold;
  o.patience = patience;
  o.seed = seed;
  return o;
}

/// The rows: gradients at θ of every entry of each junction's or eq. (48)'s quantity, or the rows
/// of a 2-D array given directly.
Eigen::MatrixXd quantity_gradients(const py::list& quantities, const Vector<double>& theta) {
  Eigen::MatrixXd g(0, theta.size());
  for (py::handle q : quantities) {
    Eigen::MatrixXd rows;
    if (py::isinstance<RuntimeJunction<double>>(q)) {
      rows = detail::quantity_gradients(py::cast<const RuntimeJunction<double>&>(q), theta);
    } else if (py::isinstance<RuntimeElementwiseQuantity<double>>(q)) {
      rows = detail::quantity_gradients(py::cast<const RuntimeElementwiseQuantity<double>&>(q), theta);
    } else if (py::isinstance<py::array>(q)) {
      rows = to_matrix<double>(q, "a quantity's gradients", "a 2-D array (entries, d): one gradient per row");
    } else {
      throw py::type_error("symflow.account_for_laws: quantities must be float64 junctions (symflow.Junction), eq. (48) "
                           "quantities (symflow.ElementwiseQuantity) or 2-D arrays of gradients, got " +
                           std::string(py::repr(q)));
    }
    if (rows.cols() != theta.size())
      throw py::value_error("symflow.account_for_laws: a quantity's gradients have " + std::to_string(rows.cols()) +
                            " columns, expected d = " + std::to_string(theta.size()));
    g.conservativeResize(g.rows() + rows.rows(), Eigen::NoChange);
    g.bottomRows(rows.rows()) = rows;
  }
  return g;
}

}  // namespace

void bind_laws(py::module_& m) {
  py::class_<ConservationLawCount>(m, "ConservationLawCount",
                                   "dim Lie(W)(θ) and the number d − r of independent conservation laws near θ")
      .def_readonly("parameters", &ConservationLawCount::parameters, "d")
      .def_readonly("dimension_per_depth", &ConservationLawCount::dimension_per_depth,
                    "entry k − 1: dim of the span at θ of the brackets of length ≤ k")
      .def_readonly("draws_per_depth", &ConservationLawCount::draws_per_depth)
      .def_readonly("dimension", &ConservationLawCount::dimension, "r = dim Lie(W)(θ)")
      .def_readonly("laws", &ConservationLawCount::laws, "d − r")
      .def_readonly("converged", &ConservationLawCount::converged,
                    "the dimension stopped growing before max_depth (otherwise `laws` is an upper bound)")
      .def_readonly("singular_values", &ConservationLawCount::singular_values)
      .def_readonly("threshold", &ConservationLawCount::threshold)
      .def_readonly("stable_range", &ConservationLawCount::stable_range,
                    "(σ_{r+1}/σ_1, σ_r/σ_1): every threshold inside gives the same count")
      .def_readonly("trace_basis", &ConservationLawCount::trace_basis, "orthonormal basis of Lie(W)(θ), d × r")
      .def_readonly("law_gradients", &ConservationLawCount::law_gradients,
                    "orthonormal basis of its complement, d × laws: the span of the laws' gradients at θ")
      .def_readonly("seconds", &ConservationLawCount::seconds)
      .def("__repr__", [](const ConservationLawCount& c) {
        return "ConservationLawCount(parameters=" + std::to_string(c.parameters) + ", dimension=" +
               std::to_string(c.dimension) + ", laws=" + std::to_string(c.laws) +
               ", converged=" + (c.converged ? "True" : "False") + ")";
      });
  py::class_<LawAccounting>(m, "LawAccounting", "whether known conserved quantities account for the counted laws")
      .def_readonly("laws", &LawAccounting::laws)
      .def_readonly("explained", &LawAccounting::explained)
      .def_readonly("missing", &LawAccounting::missing)
      .def_readonly("quantities", &LawAccounting::quantities, "scalar entries examined")
      .def_readonly("violation", &LawAccounting::violation,
                    "max |component of a unit ∇Q along the trace|: rounding level when every quantity is conserved")
      .def_readonly("singular_values", &LawAccounting::singular_values)
      .def("__repr__", [](const LawAccounting& a) {
        return "LawAccounting(laws=" + std::to_string(a.laws) + ", explained=" + std::to_string(a.explained) +
               ", missing=" + std::to_string(a.missing) + ")";
      });

  m.attr("max_bracket_depth") = max_depth;
  m.def(
      "_count_output_laws",
      [](const RuntimeSequential<double>& net, py::handle x, py::handle theta, int depth, double threshold, int patience,
         std::uint64_t seed) {
        OutputGradientFields<RuntimeSequential<double>> fields(
            net, to_matrix<double>(x, "X", "a 2-D array (features, samples): samples are columns"));
        const Vector<double> t = to_vector<double>(theta, "θ");
        const ConservationLawOptions o = options_from(depth, threshold, patience, seed);
        py::gil_scoped_release release;
        return count_conservation_laws<max_depth>(fields, t, o);
      },
      "model"_a, "x"_a, "theta"_a, "max_depth"_a, "threshold"_a, "patience"_a, "seed"_a);
  m.def(
      "_count_loss_laws",
      [](const CompiledObjective<double>& objective, py::handle theta, int depth, double threshold, int patience,
         std::uint64_t seed) {
        LossGradientFields<RuntimeSequential<double>, RuntimeLoss> fields(
            objective.network(), RuntimeLoss(objective.loss_name()), objective.input_matrix(), objective.target_matrix());
        const Vector<double> t = to_vector<double>(theta, "θ");
        const ConservationLawOptions o = options_from(depth, threshold, patience, seed);
        py::gil_scoped_release release;
        return count_conservation_laws<max_depth>(fields, t, o);
      },
      "objective"_a, "theta"_a, "max_depth"_a, "threshold"_a, "patience"_a, "seed"_a);
  m.def(
      "account_for_laws",
      [](const ConservationLawCount& count, py::handle theta, const py::list& quantities) {
        const Vector<double> t = to_vector<double>(theta, "θ");
        if (t.size() != count.parameters)
          throw py::value_error("symflow.account_for_laws: θ has length " + std::to_string(t.size()) +
                                ", the count was made with d = " + std::to_string(count.parameters));
        return account_for_law_gradients(count, quantity_gradients(quantities, t));
      },
      "count"_a, "theta"_a, "quantities"_a,
      "do the quantities (float64 junctions, eq. (48) quantities, or 2-D arrays whose rows are gradients at θ) "
      "account for every law?");
}

}  // namespace symflow::python
