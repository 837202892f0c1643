// SPDX-License-Identifier: MIT
// The compiled part of the symflow Python package (symflow._symflow): layers, integrators and their
// options, and the classes over float64 and float32 (bind_float64.cpp, bind_float32.cpp). C++
// exceptions arrive with their message: std::invalid_argument and std::domain_error as ValueError,
// std::out_of_range as IndexError, anything else as RuntimeError.

#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include <symflow/analysis/drift.hpp>
#include <symflow/analysis/orbit.hpp>
#include <symflow/flow.hpp>
#include <symflow/junction/runtime_junction.hpp>
#include <symflow/teleport/orbit_search.hpp>

#include "arrays.hpp"
#include "bind_scalar.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace symflow::python {

Shape shape_from(py::handle input) {
  if (py::isinstance<py::int_>(input)) return Shape{py::cast<Index>(input), 1, 1};
  if (py::isinstance<py::tuple>(input) || py::isinstance<py::list>(input)) {
    const auto t = py::cast<py::sequence>(input);
    if (t.size() == 1) return Shape{py::cast<Index>(t[0]), 1, 1};
    if (t.size() == 3) return Shape{py::cast<Index>(t[0]), py::cast<Index>(t[1]), py::cast<Index>(t[2])};
  }
  throw py::value_error("symflow.Sequential: input is " + std::string(py::repr(input)) +
                        ", expected the number of features n or the image shape (C, H, W)");
}

JunctionKind junction_kind_from(const std::string& name) {
  for (JunctionKind k : {JunctionKind::rescale, JunctionKind::linear_imbalance, JunctionKind::scale, JunctionKind::translation})
    if (to_string(k) == name) return k;
  throw py::value_error("symflow.Junction: unknown kind '" + name + "' (expected rescale, linear_imbalance, scale or translation)");
}

namespace {

/// The Python name of a layer and its options, e.g. ("Dense", {"units": 6, "bias": True}).
std::pair<std::string, py::dict> describe(const RuntimeLayer& layer) {
  return std::visit(
      [](const auto& l) -> std::pair<std::string, py::dict> {
        using L = std::remove_cvref_t<decltype(l)>;
        if constexpr (std::is_same_v<L, DenseLayer> || std::is_same_v<L, DenseWithBiasLayer>)
          return {"Dense", py::dict("units"_a = l.units, "bias"_a = L::has_bias)};
        else if constexpr (std::is_same_v<L, Conv2dLayer> || std::is_same_v<L, Conv2dNoBiasLayer>)
          return {"Conv2d", py::dict("channels"_a = l.channels, "kernel"_a = l.kernel, "stride"_a = l.stride,
                                     "padding"_a = l.padding, "bias"_a = L::has_bias)};
        else if constexpr (std::is_same_v<L, LayerNorm>) return {"LayerNorm", py::dict("eps"_a = l.epsilon)};
        else if constexpr (std::is_same_v<L, BatchNorm>) return {"BatchNorm", py::dict("eps"_a = l.epsilon)};
        else if constexpr (std::is_same_v<L, LeakyReLU>) return {"LeakyReLU", py::dict("slope"_a = l.slope)};
        else if constexpr (std::is_same_v<L, Homogeneous>) return {"Homogeneous", py::dict("alpha"_a = l.alpha)};
        else if constexpr (std::is_same_v<L, Identity>) return {"Identity", py::dict()};
        else if constexpr (std::is_same_v<L, ReLU>) return {"ReLU", py::dict()};
        else if constexpr (std::is_same_v<L, Tanh>) return {"Tanh", py::dict()};
        else return {"Sigmoid", py::dict()};
      },
      layer);
}

template <class S>
double gd_bound(const py::array& g, double learning_rate) {
  return static_cast<double>(linear_trace_gd_bound(to_vector<S>(g, "gradient"), learning_rate));
}

}  // namespace
}  // namespace symflow::python

namespace symflow::python {
void bind_laws(py::module_& m);
#ifdef SYMFLOW_PYTHON_SAFETENSORS
void bind_safetensors(py::module_& m);
#endif
}  // namespace symflow::python

PYBIND11_MODULE(_symflow, m) {
  namespace sf = symflow;
  using sf::python::PyLayer;
  m.doc() = "symflow: symmetries, conserved quantities and gradient flow of neural networks (compiled core)";

  py::class_<PyLayer>(m, "Layer", "One layer of a symflow.Sequential (made by symflow.Dense, symflow.ReLU, …)")
      .def_property_readonly("name", [](const PyLayer& l) { return sf::python::describe(l.spec).first; })
      .def_property_readonly("options", [](const PyLayer& l) { return sf::python::describe(l.spec).second; })
      .def("__repr__", [](const PyLayer& l) {
        const auto [name, options] = sf::python::describe(l.spec);
        std::string args;
        for (auto item : options)
          args += (args.empty() ? "" : ", ") + std::string(py::str(item.first)) + "=" + std::string(py::repr(item.second));
        return name + "(" + args + ")";
      });
  m.def("Dense", [](sf::Index units, bool bias) {
    return bias ? PyLayer{sf::DenseWithBiasLayer{units}} : PyLayer{sf::DenseLayer{units}};
  }, "units"_a, py::kw_only(), "bias"_a = false, "y = W x (+ b): W (units × inputs) column-major in θ, then b");
  m.def("Conv2d", [](sf::Index channels, sf::Index kernel, sf::Index stride, sf::Index padding, bool bias) {
    return bias ? PyLayer{sf::Conv2dLayer{channels, kernel, stride, padding}}
                : PyLayer{sf::Conv2dNoBiasLayer{channels, kernel, stride, padding}};
  }, "channels"_a, "kernel"_a, "stride"_a = 1, "padding"_a = 0, py::kw_only(), "bias"_a = true,
        "2-D convolution as PyTorch's nn.Conv2d: w in (out, in, kh, kw) order in θ, then b");
  m.def("LayerNorm", [](double eps) { return PyLayer{sf::LayerNorm{eps}}; }, "eps"_a = 0.0,
        "each sample standardised over its C·H·W entries (no affine part)");
  m.def("BatchNorm", [](double eps) { return PyLayer{sf::BatchNorm{eps}}; }, "eps"_a = 0.0,
        "each channel standardised over the batch and positions (batch statistics, no affine part)");
  m.def("Identity", [] { return PyLayer{sf::Identity{}}; });
  m.def("ReLU", [] { return PyLayer{sf::ReLU{}}; });
  m.def("LeakyReLU", [](double slope) { return PyLayer{sf::LeakyReLU{slope}}; }, "slope"_a = 0.01);
  m.def("Homogeneous", [](double alpha) { return PyLayer{sf::Homogeneous{alpha}}; }, "alpha"_a = 2.0,
        "σ(z) = max(z, 0)^α");
  m.def("Tanh", [] { return PyLayer{sf::Tanh{}}; });
  m.def("Sigmoid", [] { return PyLayer{sf::Sigmoid{}}; });

  py::class_<sf::Stopping>(m, "Stopping", "When a run stops (symflow::Stopping)")
      .def(py::init([](sf::Index max_steps, double max_time, double max_seconds, double loss_tolerance,
                       double gradient_tolerance, double blow_up_factor, double blow_up_floor) {
             return sf::Stopping{max_steps, max_time, max_seconds, loss_tolerance, gradient_tolerance, blow_up_factor,
                                 blow_up_floor};
           }),
           "max_steps"_a = 1000, "max_time"_a = std::numeric_limits<double>::infinity(),
           "max_seconds"_a = std::numeric_limits<double>::infinity(),
           "loss_tolerance"_a = -std::numeric_limits<double>::infinity(), "gradient_tolerance"_a = -1.0,
           "blow_up_factor"_a = 1e6, "blow_up_floor"_a = 0.0)
      .def_readwrite("max_steps", &sf::Stopping::max_steps)
      .def_readwrite("max_time", &sf::Stopping::max_time);
  py::class_<sf::GradientDescent>(m, "GradientDescent", "θ ← θ − η∇L(θ)")
      .def(py::init([](double lr) { return sf::GradientDescent{lr}; }), "learning_rate"_a = 1e-2)
      .def_readwrite("learning_rate", &sf::GradientDescent::learning_rate);
  py::class_<sf::Momentum>(m, "Momentum", "heavy ball (or Nesterov), as torch.optim.SGD with momentum")
      .def(py::init([](double lr, double momentum, bool nesterov) { return sf::Momentum{lr, momentum, nesterov}; }),
           "learning_rate"_a = 1e-2, "momentum"_a = 0.9, "nesterov"_a = false)
      .def_readwrite("learning_rate", &sf::Momentum::learning_rate)
      .def_readwrite("momentum", &sf::Momentum::momentum);
  py::class_<sf::Adam>(m, "Adam", "Adam with PyTorch's defaults")
      .def(py::init([](double lr, double beta1, double beta2, double epsilon, double weight_decay) {
             return sf::Adam{lr, beta1, beta2, epsilon, weight_decay};
           }),
           "learning_rate"_a = 1e-3, "beta1"_a = 0.9, "beta2"_a = 0.999, "epsilon"_a = 1e-8, "weight_decay"_a = 0.0)
      .def_readwrite("learning_rate", &sf::Adam::learning_rate);
  py::class_<sf::RungeKutta4>(m, "RungeKutta4", "gradient flow θ̇ = −∇L by classical RK4 with a fixed step")
      .def(py::init([](double h) { return sf::RungeKutta4{h}; }), "step_size"_a = 1e-2)
      .def_readwrite("step_size", &sf::RungeKutta4::step_size);
  py::class_<sf::DormandPrince>(m, "DormandPrince", "gradient flow by adaptive Dormand–Prince 5(4)")
      .def(py::init([](double rtol, double atol, double initial_step, double max_step) {
             sf::DormandPrince dp;
             dp.rtol = rtol;
             dp.atol = atol;
             dp.initial_step = initial_step;
             dp.max_step = max_step;
             return dp;
           }),
           "rtol"_a = 1e-6, "atol"_a = 1e-9, "initial_step"_a = 0.0, "max_step"_a = std::numeric_limits<double>::infinity())
      .def_readwrite("rtol", &sf::DormandPrince::rtol)
      .def_readwrite("atol", &sf::DormandPrince::atol);
  py::class_<sf::OrbitSearchOptions>(m, "OrbitSearchOptions", "options of the teleport searches over an orbit")
      .def(py::init([](int max_iterations, double initial_step, double max_step, double loss_tolerance) {
             sf::OrbitSearchOptions o;
             o.max_iterations = max_iterations;
             o.initial_step = initial_step;
             o.max_step = max_step;
             o.loss_tolerance = loss_tolerance;
             return o;
           }),
           "max_iterations"_a = 100, "initial_step"_a = 0.1, "max_step"_a = 1.0, "loss_tolerance"_a = -1.0);
  py::class_<sf::OrbitDimension>(m, "OrbitDimension", "the dimension of an orbit, with its singular values")
      .def_readonly("dimension", &sf::OrbitDimension::dimension)
      .def_readonly("algebra_dimension", &sf::OrbitDimension::algebra_dimension)
      .def_readonly("threshold", &sf::OrbitDimension::threshold)
      .def_readonly("relative_tolerance", &sf::OrbitDimension::relative_tolerance)
      .def_readonly("singular_values", &sf::OrbitDimension::singular_values)
      .def_property_readonly("stabilizer_dimension", &sf::OrbitDimension::stabilizer_dimension)
      .def_property_readonly("gap", &sf::OrbitDimension::gap)
      .def("__repr__", [](const sf::OrbitDimension& o) {
        return "OrbitDimension(dimension=" + std::to_string(o.dimension) + ", algebra_dimension=" +
               std::to_string(o.algebra_dimension) + ")";
      });

  sf::python::bind_scalar<double>(m, "64");
  sf::python::bind_scalar<float>(m, "32");

  m.def(
      "linear_trace_gd_bound",
      [](const py::array& g, double learning_rate) {
        return py::array::ensure(g).dtype().is(py::dtype::of<float>()) ? sf::python::gd_bound<float>(g, learning_rate)
                                                                        : sf::python::gd_bound<double>(g, learning_rate);
      },
      "gradient"_a, "learning_rate"_a, "η²‖∇L‖²: the bound of eq. (35) on one step's change of Tr[UᵀU − VVᵀ]");
  sf::python::bind_laws(m);
#ifdef SYMFLOW_PYTHON_SAFETENSORS
  sf::python::bind_safetensors(m);
#endif
}
