// The output stage of an int8 model fused into its last layer (tinyodlc.QMatMulDq, issue 18):
// a graph output computed by a MatMul/Gemm with constant int8 weights is dequantized straight
// from the int32 accumulator instead of being requantized to int8 and dequantized again, so a
// classifier's logits keep the accumulator's precision (near-tied logits do not swap by the
// output rounding). The only float arithmetic is the output dequantization, as in the output
// DequantizeLinear it replaces: one int32 -> float conversion and one float multiply per
// output (no addition: no fused multiply-add can change the result between host and target).
#pragma once

#include <cstdint>

#include "tinyodlc/ref/int8.h"

namespace tinyodlc {
namespace ref {

// y[i][j] = float(acc) * scale[j or 0], acc = bias[j] + sum_k (a[i][k] - a_zp) * b[k][j] in
// int32 (wrapping, as qmatmul_s8); a is [m, k] (leading dimensions flattened), b [k, n].
inline void qmatmul_dq_s8(const int8_t* a, const int8_t* b, const int32_t* bias, float* y, int32_t m, int32_t n,
                          int32_t k, int32_t a_zp, const float* scale, int32_t scale_count) {
  for (int32_t i = 0; i < m; ++i)
    for (int32_t j = 0; j < n; ++j) {
      const int32_t acc = q_dot_s8(a + static_cast<int64_t>(i) * k, b + j, n, k, a_zp, 0, bias ? bias[j] : 0);
      y[static_cast<int64_t>(i) * n + j] = static_cast<float>(acc) * scale[scale_count == 1 ? 0 : j];
    }
}

}  // namespace ref
}  // namespace tinyodlc
