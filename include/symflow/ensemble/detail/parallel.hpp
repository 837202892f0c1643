// SPDX-License-Identifier: MIT
#pragma once
/// \file Loops over independent items (ensemble members, chunks of samples) that run in parallel
/// when the program is compiled with OpenMP. Each iteration writes only its own outputs, so results
/// are the same for every number of threads; Eigen's own products inside a parallel region run on
/// one thread.

#if defined(_OPENMP)
#define SYMFLOW_PARALLEL_FOR _Pragma("omp parallel for schedule(dynamic, 1)")
#else
#define SYMFLOW_PARALLEL_FOR
#endif
