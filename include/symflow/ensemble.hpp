// SPDX-License-Identifier: MIT
#pragma once
/// \file Ensembles from the last two layers of a trained network (appendix H of the paper): the
/// group action π(g, H) and the four random baselines, the majority vote and the ensemble loss, and
/// FGSM and PGD attacks on the input. Includes the model module, whose networks it transforms.
#include "symflow/model.hpp"
#include "symflow/ensemble/vote.hpp"
#include "symflow/ensemble/evaluation.hpp"
#include "symflow/ensemble/classifier.hpp"
#include "symflow/ensemble/last_layers.hpp"
#include "symflow/ensemble/last_layers_ensemble.hpp"
#include "symflow/ensemble/transforms.hpp"
#include "symflow/ensemble/attacks.hpp"
