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

#include <type_traits>

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

// Integer arithmetic with ONNX/numpy semantics: two's-complement wrap-around, never undefined
// behaviour (signed overflow in C++ is UB, and the compiler folds constants with these same
// kernels). Integers are computed in uint64_t (modulo 2^64) and narrowed back, which keeps
// the low bits; floating types use plain arithmetic.
//   wrap_neg(INT64_MIN) == INT64_MIN, wrap_abs(INT32_MIN) == INT32_MIN (as numpy),
//   wrap_div(INT_MIN, -1) == INT_MIN (the true quotient 2^(bits-1) wrapped; the hardware
//   instruction would trap), wrap_div(a, 0) == 0 (undefined in ONNX; never a trap).
template <typename T> constexpr bool kIsFloat = std::is_floating_point_v<T>;
template <typename T>
inline T wrap_add(T a, T b) {
  if constexpr (kIsFloat<T>) return a + b;
  else return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_sub(T a, T b) {
  if constexpr (kIsFloat<T>) return a - b;
  else return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_mul(T a, T b) {
  if constexpr (kIsFloat<T>) return a * b;
  else return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_neg(T a) {
  if constexpr (kIsFloat<T>) return -a;
  else return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
}
template <typename T>
inline T wrap_abs(T a) {
  if constexpr (std::is_signed_v<T>) return a < T(0) ? wrap_neg(a) : a;
  else return a;
}
template <typename T>
inline T wrap_div(T a, T b) {
  if constexpr (kIsFloat<T>) {
    return a / b;
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>)
      if (b == T(-1)) return wrap_neg(a);  // INT_MIN / -1 would trap
    return static_cast<T>(a / b);
  }
}

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
