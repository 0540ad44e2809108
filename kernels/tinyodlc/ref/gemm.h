// Matrix products: Gemm (Y = alpha * op(A) * op(B) + beta * C) and MatMul (numpy matmul
// with broadcast batch dims). Integer types accumulate with wrap-around (see mul_add).
#pragma once

#include "tinyodlc/ref/nn_common.h"

namespace tinyodlc {
namespace ref {

// a: [M, K] ([K, M] if trans_a), b: [K, N] ([N, K] if trans_b), c: null or broadcast to
// [M, N] through (c_stride_m, c_stride_n) (0 for broadcast dims), y: [M, N].
// Floating types: y = alpha * (a*b) + beta * c. Integer types: y = a*b + c (the compiler
// only accepts alpha = beta = 1 for them).
template <typename T>
void gemm(const T* a, const T* b, const T* c, T* y, int32_t M, int32_t N, int32_t K, bool trans_a, bool trans_b,
          float alpha, float beta, int32_t c_stride_m, int32_t c_stride_n) {
  const int64_t a_sm = trans_a ? 1 : K, a_sk = trans_a ? M : 1;
  for (int32_t i = 0; i < M; ++i) {
    T* yr = y + static_cast<int64_t>(i) * N;
    const T* ar = a + i * a_sm;
    if (trans_b) {
      // y[i, j] = dot(a row i, b row j): both contiguous when !trans_a.
      for (int32_t j = 0; j < N; ++j) {
        const T* br = b + static_cast<int64_t>(j) * K;
        T acc = T(0);
        for (int32_t k = 0; k < K; ++k) acc = mul_add(acc, ar[k * a_sk], br[k]);
        yr[j] = acc;
      }
    } else {
      // y[i, :] += a[i, k] * b[k, :]: streams contiguous rows of b.
      for (int32_t j = 0; j < N; ++j) yr[j] = T(0);
      for (int32_t k = 0; k < K; ++k) {
        const T av = ar[k * a_sk];
        const T* br = b + static_cast<int64_t>(k) * N;
        for (int32_t j = 0; j < N; ++j) yr[j] = mul_add(yr[j], av, br[j]);
      }
    }
    if constexpr (static_cast<T>(0.5) != 0) {
      const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
      if (c) {
        const T* cr = c + static_cast<int64_t>(i) * c_stride_m;
        for (int32_t j = 0; j < N; ++j) yr[j] = al * yr[j] + be * cr[j * c_stride_n];
      } else if (alpha != 1.0f) {
        for (int32_t j = 0; j < N; ++j) yr[j] = al * yr[j];
      }
    } else {
      (void)alpha;
      (void)beta;
      if (c) {
        const T* cr = c + static_cast<int64_t>(i) * c_stride_m;
        for (int32_t j = 0; j < N; ++j) yr[j] = wrap_add(yr[j], cr[j * c_stride_n]);
      }
    }
  }
}

// a: batches of [M, K], b: batches of [K, N], y: [batch dims..., M, N]. The batch dims of y
// are `batch_dims` (rank batch_rank); a_strides/b_strides give, per batch dim, the step in
// matrices of a and b (0 where that operand is broadcast). 1-D operands are passed as
// [1, K] / [K, 1] matrices by the compiler.
template <typename T>
void matmul(const T* a, const T* b, T* y, int32_t batch_rank, const int32_t* batch_dims, const int32_t* a_strides,
            const int32_t* b_strides, int32_t M, int32_t N, int32_t K) {
  const int64_t batches = product(batch_dims, batch_rank);
  const int64_t a_mat = static_cast<int64_t>(M) * K, b_mat = static_cast<int64_t>(K) * N,
                y_mat = static_cast<int64_t>(M) * N;
  NdIter it(batch_rank, batch_dims, 2, a_strides, b_strides);
  for (int64_t bi = 0; bi < batches; ++bi, it.next()) {
    const T* ab = a + it.off[0] * a_mat;
    const T* bb = b + it.off[1] * b_mat;
    T* yb = y + bi * y_mat;
    for (int32_t i = 0; i < M; ++i) {
      T* yr = yb + static_cast<int64_t>(i) * N;
      const T* ar = ab + static_cast<int64_t>(i) * K;
      for (int32_t j = 0; j < N; ++j) yr[j] = T(0);
      for (int32_t k = 0; k < K; ++k) {
        const T av = ar[k];
        const T* br = bb + static_cast<int64_t>(k) * N;
        for (int32_t j = 0; j < N; ++j) yr[j] = mul_add(yr[j], av, br[j]);
      }
    }
  }
}

}  // namespace ref
}  // namespace tinyodlc
