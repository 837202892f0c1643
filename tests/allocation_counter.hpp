// Counting heap allocations in a test program, under every build (sanitizers included). Include it
// first, before anything that includes Eigen, and in one translation unit of the program only: it
// configures Eigen and replaces the global operator new and delete.
//
// Two counters watch a window: the replaced operator new sees every C++ allocation (std::vector,
// std::function, strings), and Eigen's own heap (aligned_malloc, which calls malloc directly) is
// watched through EIGEN_RUNTIME_NO_MALLOC. Replacing malloc itself would fight AddressSanitizer,
// which owns it.
#pragma once

#include <cstdlib>
#include <new>

namespace allocation_count {
inline long eigen_heap = 0;
inline long operator_new = 0;
inline bool watching = false;  // the tests are single-threaded
}  // namespace allocation_count

// Eigen reports a heap allocation made while allocations are forbidden through eigen_assert: count
// it. Outside the watched window a failed Eigen assertion aborts, as in a debug build.
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                 \
  do {                                                                  \
    if (!(x)) {                                                         \
      if (allocation_count::watching) ++allocation_count::eigen_heap;   \
      else std::abort();                                                \
    }                                                                   \
  } while (false)

#include <Eigen/Core>

void* operator new(std::size_t size) {
  if (allocation_count::watching) ++allocation_count::operator_new;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (allocation_count::watching) ++allocation_count::operator_new;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return ::operator new(size, tag); }
// g++ 12 sees free() meet the pointer of an operator new it inlined, not that operator new is malloc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// Heap allocations (C++ and Eigen) made while `f` runs.
template <class F>
long allocations_during(F&& f) {
  allocation_count::operator_new = 0;
  allocation_count::eigen_heap = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  allocation_count::watching = true;
  f();
  allocation_count::watching = false;
  Eigen::internal::set_is_malloc_allowed(true);
  return allocation_count::operator_new + allocation_count::eigen_heap;
}
