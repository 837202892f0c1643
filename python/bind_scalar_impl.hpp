// SPDX-License-Identifier: MIT
#pragma once
// Definition of bind_scalar<S> (declared in bind_scalar.hpp), included by exactly one file per scalar.

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <symflow/conserved/runtime_elementwise_quantity.hpp>
#include <symflow/flow.hpp>
#include <symflow/model/random.hpp>
#include <symflow/teleport/orbit_search.hpp>

#include "arrays.hpp"
#include "bind_scalar.hpp"
#include "compiled.hpp"

namespace symflow::python {

namespace py = pybind11;
using namespace pybind11::literals;

template <class S>
struct Bindings {
  using Model = RuntimeSequential<S>;
  using Obj = CompiledObjective<S>;
  using Junction = RuntimeJunction<S>;
  using Elementwise = RuntimeElementwiseQuantity<S>;
  using Params = Vector<S>;

  /// A quantity recorded along a run: a junction's or eq. (48)'s, as its shape and its value.
  struct Traced {
    Index size = 0, rows = 0, cols = 0;
    std::function<Matrix<S>(const Params&)> value;
  };

  static py::tuple shape_tuple(Shape s) { return py::make_tuple(s.channels, s.height, s.width); }

  static Params theta(py::handle obj, const char* what = "θ") { return to_vector<S>(obj, what); }
  static Matrix<S> inputs(py::handle obj) { return to_matrix<S>(obj, "X", "a 2-D array (features, samples): samples are columns"); }
  static Matrix<S> targets(py::handle obj) { return to_matrix<S>(obj, "Y", "a 2-D array (outputs, samples): samples are columns"); }

  /// The loss named by a Python string, or none for None.
  static std::optional<RuntimeLoss> loss_from(const py::object& loss) {
    if (loss.is_none()) return std::nullopt;
    return RuntimeLoss(py::cast<std::string>(loss));
  }

  static Junction make_junction(const Model& net, Index layer, const std::string& kind, const py::object& loss) {
    const std::optional<RuntimeLoss> l = loss_from(loss);
    return Junction(net, layer, junction_kind_from(kind), l ? &*l : nullptr);
  }

  /// What a run leaves: the last θ, the status and the records.
  struct Run {
    Params theta;
    RunStatus<S> status;
    Trace<Params> trace;
  };

  /// Runs `method` from θ₀ with Trace recording the loss, ‖∇L‖ and the junctions' quantities every
  /// `every` steps. Only this part depends on the method; run_result converts for every method.
  template <class Method>
  static Run run_method(const Obj& objective, const Method& method, py::handle theta0, const Stopping& stop,
                        Index every, const std::vector<Traced>& quantities) {
    Run r{theta(theta0, "θ₀"), {}, Trace<Params>(every)};
    objective.network().check_params(r.theta);
    r.trace.add_loss().add_gradient_norm();
    for (std::size_t k = 0; k < quantities.size(); ++k) {
      if (quantities[k].size != objective.size())
        throw std::invalid_argument("symflow::run: quantity " + std::to_string(k) + " belongs to a model with d = " +
                                    std::to_string(quantities[k].size) + ", the objective's has d = " +
                                    std::to_string(objective.size()));
      r.trace.add("q" + std::to_string(k), [f = quantities[k].value](const Params& x) { return f(x); });
    }
    py::gil_scoped_release release;
    r.status = run(method, objective, r.theta, stop, r.trace);
    return r;
  }

  /// θ, the status and the records as NumPy arrays.
  static py::dict run_result(Run&& r, const std::vector<Traced>& quantities) {
    const RunStatus<S>& status = r.status;
    const Trace<Params>& trace = r.trace;
    py::dict out;
    out["theta"] = py::cast(std::move(r.theta));
    out["status"] = py::dict("reason"_a = to_string(status.reason), "message"_a = status.message(), "step"_a = status.step,
                             "time"_a = static_cast<double>(status.time), "loss"_a = static_cast<double>(status.loss),
                             "evaluations"_a = status.evaluations, "rejected_steps"_a = status.rejected_steps,
                             "diverged"_a = status.diverged(), "converged"_a = status.converged());
    const auto column = [&](const std::string& name) {
      const std::vector<S> c = trace.column(name);
      return py::array_t<S>(static_cast<py::ssize_t>(c.size()), c.data());
    };
    out["step"] = py::array_t<Index>(static_cast<py::ssize_t>(trace.steps().size()), trace.steps().data());
    for (const char* name : {"time", "loss", "gradient_norm"}) out[name] = column(name);
    // Each quantity's entries follow in column-major order: records × rows × cols.
    const std::vector<std::string> names = trace.names();
    std::size_t next = 4;
    py::list values;
    for (const Traced& q : quantities) {
      const auto records = static_cast<py::ssize_t>(trace.rows());
      py::array_t<S> a(std::vector<py::ssize_t>{records, q.rows, q.cols});
      auto v = a.template mutable_unchecked<3>();
      for (Index j = 0; j < q.cols; ++j)
        for (Index i = 0; i < q.rows; ++i) {
          const std::vector<S> c = trace.column(names[next++]);
          for (py::ssize_t k = 0; k < records; ++k) v(k, i, j) = c[static_cast<std::size_t>(k)];
        }
      values.append(q.cols == 1 ? a.attr("reshape")(records, q.rows) : py::object(a));
    }
    out["quantities"] = values;
    return out;
  }

  static std::vector<Traced> traced_list(const py::object& quantities) {
    std::vector<Traced> out;
    for (py::handle q : quantities) {
      if (py::isinstance<Junction>(q)) {
        auto j = py::cast<Junction>(q);
        out.push_back({j.model().size(), j.rows(), j.cols(), [j](const Params& x) { return Matrix<S>(j.value(x)); }});
      } else if (py::isinstance<Elementwise>(q)) {
        auto e = py::cast<Elementwise>(q);
        out.push_back({e.size(), e.rows(), 1, [e](const Params& x) { return Matrix<S>(e.value(x)); }});
      } else {
        throw py::type_error("symflow.run: quantities must be junctions (symflow.Junction) or eq. (48) quantities "
                             "(symflow.ElementwiseQuantity) of the objective's dtype " + dtype_name<S>() + ", got " +
                             std::string(py::repr(q)));
      }
    }
    return out;
  }

  /// A teleport's result: θ, g, the status and the loss and searched function before and after.
  static py::dict teleported(Teleported<Junction>&& result) {
    const TeleportReport& r = result.report;
    return py::dict("theta"_a = std::move(result.theta), "g"_a = from_element<S>(result.g), "status"_a = to_string(r.status),
                    "reason"_a = r.reason, "loss_before"_a = r.loss_before, "loss_after"_a = r.loss_after,
                    "objective_before"_a = r.objective_before, "objective_after"_a = r.objective_after,
                    "iterations"_a = r.iterations);
  }

  template <class Method>
  static void def_run(py::class_<Obj>& c) {
    c.def(
        "_run",
        [](const Obj& o, const Method& method, py::handle theta0, const Stopping& stop, Index every, const py::object& q) {
          const std::vector<Traced> quantities = traced_list(q);
          return run_result(run_method(o, method, theta0, stop, every, quantities), quantities);
        },
        "method"_a, "theta"_a, "stopping"_a, "every"_a, "quantities"_a);
  }

  static void bind(py::module_& m, const std::string& suffix) {
    py::class_<Model>(m, ("Sequential" + suffix).c_str(),
                      "A model composed of layers at run time (symflow::RuntimeSequential); samples are columns.")
        .def(py::init([](py::handle input, const py::list& layers) {
               std::vector<RuntimeLayer> specs;
               for (py::handle l : layers) {
                 if (!py::isinstance<PyLayer>(l))
                   throw py::type_error("symflow.Sequential: layers must be symflow layers (symflow.Dense(6), "
                                        "symflow.ReLU(), …), got " +
                                        std::string(py::str(py::type::of(l).attr("__name__"))));
                 specs.push_back(py::cast<const PyLayer&>(l).spec);
               }
               return Model(shape_from(input), std::move(specs));
             }),
             "input"_a, "layers"_a)
        .def_property_readonly("dtype", [](const Model&) { return dtype_name<S>(); })
        .def_property_readonly("size", &Model::size, "d, the number of parameters")
        .def_property_readonly("layer_count", &Model::layer_count)
        .def_property_readonly("layers",
                               [](const Model& n) {
                                 py::list out;
                                 for (const RuntimeLayer& l : n.specs()) out.append(PyLayer{l});
                                 return out;
                               })
        .def_property_readonly("input_shape", [](const Model& n) { return shape_tuple(n.input_shape()); })
        .def_property_readonly("output_shape", [](const Model& n) { return shape_tuple(n.output_shape()); })
        .def_property_readonly("input_size", &Model::input_size)
        .def_property_readonly("output_size", &Model::output_size)
        .def("offset", &Model::offset, "layer"_a, "where layer i's parameters start in θ (layers numbered from 1)")
        .def("layer_size", &Model::layer_size, "layer"_a)
        .def("layer_input_shape", [](const Model& n, Index i) { return shape_tuple(n.layer_input_shape(i)); }, "layer"_a)
        .def("layer_output_shape", [](const Model& n, Index i) { return shape_tuple(n.layer_output_shape(i)); }, "layer"_a)
        .def("forward", [](const Model& n, py::handle p, py::handle x) { return forward(n, theta(p), inputs(x)); },
             "theta"_a, "x"_a, "F_θ(X): (outputs, samples)")
        .def("random_params",
             [](const Model& n, std::uint64_t seed, double stddev) {
               std::mt19937_64 rng(seed);
               return random_params(n, rng, stddev);
             },
             "seed"_a = 0, "stddev"_a = 1.0, "θ with i.i.d. N(0, stddev²) entries (drawn in double, as symflow's C++)")
        .def(
            "junction_kinds",
            [](const Model& n, Index i, const py::object& loss) {
              const std::optional<RuntimeLoss> l = loss_from(loss);
              py::list out;
              for (JunctionKind k : junction_kinds(n, i, l ? &*l : nullptr)) out.append(to_string(k));
              return out;
            },
            "layer"_a, "loss"_a = py::none())
        .def("__repr__", [](const Model& n) {
          std::string s = "symflow.Sequential(input=" + std::string(py::str(shape_tuple(n.input_shape()))) + ", layers=[";
          for (Index i = 1; i <= n.layer_count(); ++i)
            s += (i > 1 ? ", " : "") + std::string(py::repr(py::cast(PyLayer{n.spec(i)})));
          return s + "], dtype=\"" + dtype_name<S>() + "\")";
        });

    py::class_<Obj> objective(m, ("Objective" + suffix).c_str(),
                              "L(θ) = loss(F_θ(X), Y) on a fixed batch: value, gradient, exact Hessian-vector product, Hessian.");
    objective
        .def(py::init([](const Model& net, const std::string& loss, py::handle x, py::handle y) {
               return Obj(net, loss, inputs(x), targets(y));
             }),
             "model"_a, "loss"_a, "x"_a, "y"_a)
        .def_property_readonly("model", &Obj::network)
        .def_property_readonly("loss", &Obj::loss_name)
        .def_property_readonly("samples", &Obj::samples)
        .def_property_readonly("size", &Obj::size)
        .def_property_readonly("inputs", &Obj::input_matrix)
        .def_property_readonly("targets", &Obj::target_matrix)
        .def("output", [](const Obj& o, py::handle p) { return o.output(theta(p)); }, "theta"_a)
        .def("value", [](const Obj& o, py::handle p) { return o.value(theta(p)); }, "theta"_a)
        .def("gradient", [](const Obj& o, py::handle p) { return o.gradient(theta(p)); }, "theta"_a)
        .def(
            "value_and_gradient",
            [](const Obj& o, py::handle p) {
              Params g;
              const S value = o.value_and_gradient(theta(p), g);
              return py::make_tuple(value, std::move(g));
            },
            "theta"_a)
        .def("input_gradient", [](const Obj& o, py::handle p) { return o.input_gradient(theta(p)); }, "theta"_a)
        .def(
            "hessian_vector_product",
            [](const Obj& o, py::handle p, py::handle v) { return o.hessian_vector_product(theta(p), theta(v, "v")); },
            "theta"_a, "v"_a, "H(θ) v, exact (dual numbers through back-propagation)")
        .def(
            "hessian",
            [](const Obj& o, py::handle p) {
              const Params t = theta(p);
              py::gil_scoped_release release;
              return o.hessian(t);
            },
            "theta"_a, "the d × d Hessian from d exact Hessian-vector products")
        .def(
            "gd_step",
            [](const Obj& o, py::handle p, double learning_rate) {
              Params t = theta(p);
              const S loss = gd_step(o, t, learning_rate);
              return py::make_tuple(std::move(t), loss);
            },
            "theta"_a, "learning_rate"_a, "one gradient-descent step: (θ − η∇L(θ), L(θ))");
    def_run<GradientDescent>(objective);
    def_run<Momentum>(objective);
    def_run<Adam>(objective);
    def_run<RungeKutta4>(objective);
    def_run<DormandPrince>(objective);

    py::class_<Junction>(m, ("Junction" + suffix).c_str(),
                         "One symmetry family of the junction at a layer: its conserved quantity and group action.")
        .def(py::init(&make_junction), "model"_a, "layer"_a, "kind"_a, "loss"_a = py::none())
        .def_property_readonly("kind", [](const Junction& j) { return j.name(); })
        .def_property_readonly("layer", &Junction::layer)
        .def_property_readonly("model", &Junction::model)
        .def_property_readonly("is_linear", &Junction::is_linear)
        .def_property_readonly("degree", &Junction::degree)
        .def_property_readonly("shape",
                               [](const Junction& j) {
                                 return j.cols() == 1 ? py::make_tuple(j.rows()) : py::make_tuple(j.rows(), j.cols());
                               })
        .def_property_readonly("algebra_dimension", [](const Junction& j) { return j.algebra().dimension(); })
        .def("value", [](const Junction& j, py::handle p) { return from_element<S>(j.value(theta(p))); }, "theta"_a)
        .def("form", [](const Junction& j, py::handle x, py::handle y) { return from_element<S>(j.form(theta(x, "x"), theta(y, "y"))); },
             "x"_a, "y"_a)
        .def("derivative",
             [](const Junction& j, py::handle p, py::handle v) { return from_element<S>(j.derivative(theta(p), theta(v, "v"))); },
             "theta"_a, "v"_a)
        .def("gd_step_change",
             [](const Junction& j, py::handle g, double lr) { return from_element<S>(j.gd_step_change(theta(g, "gradient"), lr)); },
             "gradient"_a, "learning_rate"_a)
        .def("identity", [](const Junction& j) { return from_element<S>(j.identity()); })
        .def("basis", [](const Junction& j, Index k) {
               if (k < 0 || k >= j.algebra().dimension())
                 throw py::index_error("symflow: algebra basis index " + std::to_string(k) + " out of range [0, " +
                                       std::to_string(j.algebra().dimension()) + ")");
               return from_element<S>(j.algebra().basis(k));
             }, "k"_a)
        .def("exp", [](const Junction& j, py::handle a) { return from_element<S>(j.exp(to_element<S>(a, "algebra element", j.cols()))); },
             "m"_a)
        .def("compose",
             [](const Junction& j, py::handle a, py::handle b) {
               return from_element<S>(j.compose(to_element<S>(a, "group element", j.cols()), to_element<S>(b, "group element", j.cols())));
             },
             "a"_a, "b"_a)
        .def("inverse", [](const Junction& j, py::handle g) { return from_element<S>(j.inverse(to_element<S>(g, "group element", j.cols()))); },
             "g"_a)
        .def("act",
             [](const Junction& j, py::handle g, py::handle p) { return j.act(to_element<S>(g, "group element", j.cols()), theta(p)); },
             "g"_a, "theta"_a, "g · θ")
        .def("generator",
             [](const Junction& j, py::handle a, py::handle p) {
               return j.generator(to_element<S>(a, "algebra element", j.cols()), theta(p));
             },
             "m"_a, "theta"_a, "M̄θ = d/dt exp(tM)·θ at t = 0")
        .def("orbit_dimension",
             [](const Junction& j, py::handle p, double relative_tolerance) {
               return junction_orbit_dimension(j, theta(p), relative_tolerance);
             },
             "theta"_a, "relative_tolerance"_a = -1.0)
        .def(
            "teleport_to_steepest",
            [](const Junction& j, const Obj& o, py::handle p, const OrbitSearchOptions& options) {
              const Params t = theta(p);
              Teleported<Junction> result;
              {
                py::gil_scoped_release release;
                result = teleport_to_steepest(o, j, t, options);
              }
              return teleported(std::move(result));
            },
            "objective"_a, "theta"_a, "options"_a = OrbitSearchOptions{},
            "g·θ where ‖∇L‖² is (locally) largest on the orbit (ascent over the group)")
        .def("__repr__", [](const Junction& j) {
          return "symflow.Junction(layer=" + std::to_string(j.layer()) + ", kind=\"" + j.name() + "\", dtype=\"" +
                 dtype_name<S>() + "\")";
        });

    py::class_<Elementwise>(m, ("ElementwiseQuantity" + suffix).c_str(),
                            "eq. (48) at the junction dense → σ → dense at a layer: Q_k = ½‖column k of W_{I+2}‖² − "
                            "Σ_j Φ_σ(W_I[k, j]); conserved when the block's input is X = I")
        .def(py::init([](const Model& net, Index layer) { return Elementwise(net, layer); }), "model"_a, "layer"_a)
        .def_property_readonly("layer", &Elementwise::layer)
        .def_property_readonly("activation", &Elementwise::activation)
        .def_property_readonly("shape", [](const Elementwise& e) { return py::make_tuple(e.rows()); })
        .def("value", [](const Elementwise& e, py::handle p) { return e.value(theta(p)); }, "theta"_a, "Q ∈ R^h")
        .def("potentials", [](const Elementwise& e, py::handle p) { return e.potentials(theta(p)); }, "theta"_a,
             "Σ_j Φ_σ(W_I[k, j]) per unit k")
        .def("outgoing", [](const Elementwise& e, py::handle p) { return static_cast<double>(e.outgoing(theta(p))); },
             "theta"_a, "½‖W_{I+2}‖²_F")
        .def("incoming", [](const Elementwise& e, py::handle p) { return static_cast<double>(e.incoming(theta(p))); },
             "theta"_a, "Σ_kj Φ_σ(W_I[k, j])")
        .def("__repr__", [](const Elementwise& e) {
          return "symflow.ElementwiseQuantity(layer=" + std::to_string(e.layer()) + ", activation=\"" + e.activation() +
                 "\", dtype=\"" + dtype_name<S>() + "\")";
        });
  }
};

template <class S>
void bind_scalar(py::module_& m, const std::string& suffix) {
  Bindings<S>::bind(m, suffix);
}

}  // namespace symflow::python
