// tinyodlc portable reference kernels: shared definitions.
//
// Reference kernels are plain C++17: no heap, no exceptions, no RTTI, no global state.
// Every kernel takes its tensors as pointers and its parameters as scalars or pointers to
// `static const int32_t` arrays emitted by the compiler. The compiler runs these same
// functions for constant folding, so they are the single definition of each op's forward
// semantics, and the oracle the optimized (CMSIS) kernels are tested against.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace tinyodlc {
namespace ref {

// Maximum tensor rank supported by the N-d kernels (broadcast, transpose, slice, ...).
constexpr int32_t kMaxRank = 8;

// Iterates a multi-index over `dims` (rank r), maintaining up to three linear offsets that
// advance by per-tensor strides (0 for broadcast dims). Used by the N-d kernels.
struct NdIter {
  int32_t rank;
  const int32_t* dims;
  int32_t idx[kMaxRank];
  int64_t off[3];
  const int32_t* strides[3];
  int32_t n_tensors;

  NdIter(int32_t r, const int32_t* d, int32_t nt, const int32_t* s0, const int32_t* s1 = nullptr,
         const int32_t* s2 = nullptr)
      : rank(r), dims(d), idx{}, off{0, 0, 0}, strides{s0, s1, s2}, n_tensors(nt) {}

  void next() {
    for (int32_t i = rank - 1; i >= 0; --i) {
      ++idx[i];
      for (int32_t t = 0; t < n_tensors; ++t) off[t] += strides[t][i];
      if (idx[i] < dims[i]) return;
      for (int32_t t = 0; t < n_tensors; ++t) off[t] -= static_cast<int64_t>(strides[t][i]) * dims[i];
      idx[i] = 0;
    }
  }
};

inline int64_t product(const int32_t* dims, int32_t rank) {
  int64_t n = 1;
  for (int32_t i = 0; i < rank; ++i) n *= dims[i];
  return n;
}

// Plain byte copy: the kernel of pure reinterpretations (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity) when the memory planner does not alias their buffers. Safe for nbytes == 0 (null
// pointers) and for src == dst.
inline void copy_bytes(const void* src, void* dst, int32_t nbytes) {
  if (nbytes <= 0 || src == dst) return;
  memcpy(dst, src, static_cast<size_t>(nbytes));
}

}  // namespace ref
}  // namespace tinyodlc
