// SPDX-License-Identifier: MIT
#pragma once
/// \file Initialisation: Gaussian, Xavier (eq. 46), Glorot and He schemes; the distribution of
/// conserved quantities at initialisation (Monte Carlo and closed forms); initialisation at a chosen
/// value of a conserved quantity; spectral initialisation and per-mode convergence (Props. 14–16).
#include "symflow/init/chosen_quantity.hpp"
#include "symflow/init/schemes.hpp"
#include "symflow/init/spectral.hpp"
#include "symflow/init/statistics.hpp"
