// Checked integer arithmetic for every size, shape, offset and count the compiler computes
// from numbers it reads (model files, .pb tensors, attributes, options). One helper, used
// everywhere instead of ad hoc tests (docs/robustness.md):
//
//   checked::mul(a, b, where, what)   a * b, or CompileError(where, "<what> overflows ...")
//   checked::add / checked::sub       the same for + and -
//   checked::to_i32(v, where, what)   narrowing to a 32-bit kernel parameter, or an error
//   checked::to_size(v, where, what)  a non-negative int64 as size_t, or an error
//
// `where` is the CompileError location ("node 'conv1' (Conv)", "initializer 'w'"), `what`
// names the quantity ("attribute 'pads'", "element count of output 'y'"). The operations are
// __builtin_*_overflow (GCC and clang), so they cost one flag test on the normal path.
//
// Upper bounds (the compiler targets microcontrollers with at most a few MB of memory; the
// generated kernels take element counts, strides and byte sizes as int32_t):
//   kMaxTensorElements, kMaxTensorBytes  any one tensor (constant or activation)
//   kMaxArenaBytes                       the sum of all activation/scratch buffers
// Every value below these bounds fits int32_t, so a kernel parameter derived from a tensor
// that passed the check cannot truncate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "support/error.h"

namespace tinyodlc {

// 2^31 - 1: the largest count a 32-bit kernel parameter holds.
constexpr int64_t kMaxTensorElements = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxTensorBytes = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxArenaBytes = std::numeric_limits<int32_t>::max();

namespace checked {

[[noreturn]] inline void overflow(std::string_view where, std::string_view what, const std::string& detail) {
  throw CompileError(std::string(where), std::string(what) + " overflows: " + detail);
}

template <typename T>
inline T mul(T a, T b, std::string_view where, std::string_view what) {
  T r;
  if (__builtin_mul_overflow(a, b, &r))
    overflow(where, what, std::to_string(a) + " * " + std::to_string(b) + " does not fit " +
                              (std::is_signed_v<T> ? "a signed " : "an unsigned ") + std::to_string(8 * sizeof(T)) +
                              "-bit integer");
  return r;
}

template <typename T>
inline T add(T a, T b, std::string_view where, std::string_view what) {
  T r;
  if (__builtin_add_overflow(a, b, &r))
    overflow(where, what, std::to_string(a) + " + " + std::to_string(b) + " does not fit " +
                              std::to_string(8 * sizeof(T)) + " bits");
  return r;
}

template <typename T>
inline T sub(T a, T b, std::string_view where, std::string_view what) {
  T r;
  if (__builtin_sub_overflow(a, b, &r))
    overflow(where, what, std::to_string(a) + " - " + std::to_string(b) + " does not fit " +
                              std::to_string(8 * sizeof(T)) + " bits");
  return r;
}

inline int32_t to_i32(int64_t v, std::string_view where, std::string_view what) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    throw CompileError(std::string(where),
                       std::string(what) + " = " + std::to_string(v) + " does not fit a 32-bit kernel parameter");
  return static_cast<int32_t>(v);
}

inline size_t to_size(int64_t v, std::string_view where, std::string_view what) {
  if (v < 0) throw CompileError(std::string(where), std::string(what) + " = " + std::to_string(v) + " is negative");
  return static_cast<size_t>(v);
}

// Product of `dims` (each must be >= 0), or an error naming `what` when it overflows int64.
template <typename Dims>
inline int64_t product(const Dims& dims, std::string_view where, std::string_view what) {
  int64_t n = 1;
  for (auto d : dims) {
    if (d < 0) throw CompileError(std::string(where), std::string(what) + " has a negative dimension " + std::to_string(d));
    n = mul<int64_t>(n, static_cast<int64_t>(d), where, what);
  }
  return n;
}

// Element count and byte size of a tensor with `dims` and `elem_size`-byte elements, checked
// against kMaxTensorElements / kMaxTensorBytes. Returns the byte size.
template <typename Dims>
inline int64_t tensor_bytes(const Dims& dims, size_t elem_size, std::string_view where, std::string_view what) {
  int64_t n = 1;
  for (auto d : dims) {
    if (d < 0) throw CompileError(std::string(where), std::string(what) + " has a negative dimension " + std::to_string(d));
    int64_t r;
    if (__builtin_mul_overflow(n, static_cast<int64_t>(d), &r) || r > kMaxTensorElements) {
      std::string s = "[";
      bool first = true;
      for (auto x : dims) s += (first ? "" : ",") + std::to_string(x), first = false;
      throw CompileError(std::string(where),
                         std::string(what) + " " + s + "] has more than " + std::to_string(kMaxTensorElements) +
                             " elements (the limit of tinyodlc's 32-bit kernels; docs/robustness.md)");
    }
    n = r;
  }
  const int64_t bytes = n * static_cast<int64_t>(elem_size);  // n <= 2^31, elem_size <= 8: no overflow
  if (bytes > kMaxTensorBytes)
    throw CompileError(std::string(where), std::string(what) + " needs " + std::to_string(bytes) +
                                               " bytes, more than the limit of " + std::to_string(kMaxTensorBytes) +
                                               " bytes per tensor (docs/robustness.md)");
  return bytes;
}

}  // namespace checked
}  // namespace tinyodlc
