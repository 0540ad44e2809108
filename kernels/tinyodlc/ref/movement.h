// Data-movement reference kernels: strided copy (Transpose, Slice, Expand), Concat, Split,
// Gather, Pad, Tile, and the backward kernels of on-device learning (slice_grad, split_grad,
// gather_grad, pad_grad). Shapes are static: the compiler passes dims/strides as int32 arrays.
#pragma once

#include "tinyodlc/ref/common.h"

namespace tinyodlc {
namespace ref {

// ---- strided copy ------------------------------------------------------------------------
// y (contiguous, dims out_dims[rank]) gets y[i0..ir-1] = x[offset + sum_d i_d * in_strides[d]].
//   Transpose: in_strides = input strides permuted by perm, offset 0.
//   Slice:     in_strides = input strides * steps (negative for negative steps), offset = starts.
//   Expand:    in_strides = input strides with 0 on broadcast dims, offset 0.
template <typename T>
void strided_copy(const T* x, T* y, int32_t rank, const int32_t* out_dims, const int32_t* in_strides,
                  int32_t offset) {
  if (rank == 0) {
    y[0] = x[offset];
    return;
  }
  const int64_t n = product(out_dims, rank);
  if (n == 0) return;
  const int32_t inner = out_dims[rank - 1];
  const int64_t s = in_strides[rank - 1];
  const int64_t rows = n / inner;
  NdIter it(rank - 1, out_dims, 1, in_strides);  // iterates all dims but the last
  int64_t k = 0;
  for (int64_t r = 0; r < rows; ++r, it.next()) {
    const int64_t base = offset + it.off[0];
    if (s == 1) {
      for (int32_t j = 0; j < inner; ++j) y[k++] = x[base + j];
    } else {
      for (int32_t j = 0; j < inner; ++j) y[k++] = x[base + j * s];
    }
  }
}

// ---- Concat ------------------------------------------------------------------------------
// Inputs viewed as [outer, chunks[i]] (chunks[i] = dim_i(axis) * inner); y = [outer, sum chunks].
template <typename T>
void concat(const T* const* ins, int32_t n_in, T* y, int32_t outer, const int32_t* chunks) {
  int64_t k = 0;
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_in; ++i) {
      const int32_t c = chunks[i];
      if (c == 0) continue;
      const T* src = ins[i] + static_cast<int64_t>(o) * c;
      for (int32_t j = 0; j < c; ++j) y[k++] = src[j];
    }
  }
}

// ---- Split -------------------------------------------------------------------------------
// The inverse of concat: x = [outer, sum chunks] is cut into outs[i] = [outer, chunks[i]].
// A null outs[i] (omitted output) is skipped.
template <typename T>
void split(const T* x, T* const* outs, int32_t n_out, int32_t outer, const int32_t* chunks) {
  int64_t k = 0;
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_out; ++i) {
      const int32_t c = chunks[i];
      T* dst = outs[i];
      if (dst != nullptr && c > 0) {
        dst += static_cast<int64_t>(o) * c;
        for (int32_t j = 0; j < c; ++j) dst[j] = x[k + j];
      }
      k += c;
    }
  }
}

// ---- Gather ------------------------------------------------------------------------------
// x viewed as [outer, axis_dim, inner], indices (n_idx of them) select along the middle axis:
// y = [outer, n_idx, inner]. Negative indices count from the end. Out-of-range indices (an
// error in ONNX) produce zeros instead of reading out of bounds.
template <typename T, typename I>
void gather(const T* x, const I* indices, T* y, int32_t outer, int32_t axis_dim, int32_t inner, int32_t n_idx) {
  int64_t k = 0;
  for (int32_t o = 0; o < outer; ++o) {
    const int64_t row0 = static_cast<int64_t>(o) * axis_dim;
    for (int32_t j = 0; j < n_idx; ++j) {
      int64_t q = static_cast<int64_t>(indices[j]);
      if (q < 0) q += axis_dim;
      if (q < 0 || q >= axis_dim) {
        for (int32_t e = 0; e < inner; ++e) y[k++] = T(0);
        continue;
      }
      const T* src = x + (row0 + q) * inner;
      for (int32_t e = 0; e < inner; ++e) y[k++] = src[e];
    }
  }
}

// ---- Pad -----------------------------------------------------------------------------------
enum PadMode : int32_t { kPadConstant = 0, kPadReflect = 1, kPadEdge = 2, kPadWrap = 3 };

// Source coordinate along one axis of extent n for the padded coordinate c (c already shifted
// by the begin pad), or -1 if the constant value is to be used.
inline int32_t pad_source(int32_t c, int32_t n, int32_t mode) {
  if (c >= 0 && c < n) return c;
  if (n <= 0 || mode == kPadConstant) return -1;
  if (mode == kPadEdge) return c < 0 ? 0 : n - 1;
  if (mode == kPadWrap) {
    int32_t m = c % n;
    return m < 0 ? m + n : m;
  }
  // reflect (mirror without repeating the edge), periodic with period 2(n-1)
  if (n == 1) return 0;
  const int32_t p = 2 * (n - 1);
  int32_t m = c % p;
  if (m < 0) m += p;
  return m < n ? m : p - m;
}

// Visits every element k of the padded tensor (out_dims), in order, with the flat index of its
// source element in the input (in_dims), or -1 where the constant value goes: visit(k, src).
// Shared by pad (forward) and pad_grad (its adjoint), so both walk the same mapping.
template <typename F>
void pad_visit(int32_t rank, const int32_t* in_dims, const int32_t* out_dims, const int32_t* pads_begin,
               int32_t mode, F visit) {
  if (rank == 0) {
    visit(int64_t(0), int64_t(0));
    return;
  }
  const int64_t n = product(out_dims, rank);
  if (n == 0) return;
  int64_t in_strides[kMaxRank];
  int64_t acc = 1;
  for (int32_t d = rank - 1; d >= 0; --d) {
    in_strides[d] = acc;
    acc *= in_dims[d];
  }
  const int32_t last = rank - 1;
  const int32_t inner = out_dims[last];
  const int64_t rows = n / inner;
  int32_t idx[kMaxRank] = {};
  int64_t k = 0;
  for (int64_t r = 0; r < rows; ++r) {
    // Source row (all dims but the last), or constant row.
    int64_t base = 0;
    bool constant_row = false;
    for (int32_t d = 0; d < last; ++d) {
      const int32_t s = pad_source(idx[d] - pads_begin[d], in_dims[d], mode);
      if (s < 0) {
        constant_row = true;
        break;
      }
      base += s * in_strides[d];
    }
    for (int32_t j = 0; j < inner; ++j, ++k) {
      const int32_t s = constant_row ? -1 : pad_source(j - pads_begin[last], in_dims[last], mode);
      visit(k, s < 0 ? int64_t(-1) : base + s);
    }
    for (int32_t d = last - 1; d >= 0; --d) {
      if (++idx[d] < out_dims[d]) break;
      idx[d] = 0;
    }
  }
}

// y (out_dims) from x (in_dims), both rank `rank`; pads_begin[d] may be negative (cropping);
// out_dims[d] = in_dims[d] + pads_begin[d] + pads_end[d]. `value` (may be null = 0) is read
// for mode kPadConstant.
template <typename T>
void pad(const T* x, const T* value, T* y, int32_t rank, const int32_t* in_dims, const int32_t* out_dims,
         const int32_t* pads_begin, int32_t mode) {
  const T v = value ? *value : T(0);
  pad_visit(rank, in_dims, out_dims, pads_begin, mode, [&](int64_t k, int64_t src) { y[k] = src < 0 ? v : x[src]; });
}

// ---- Tile ----------------------------------------------------------------------------------
// y[i] = x[i_d mod in_dims[d]], out_dims[d] = in_dims[d] * repeats[d].
template <typename T>
void tile(const T* x, T* y, int32_t rank, const int32_t* in_dims, const int32_t* out_dims) {
  if (rank == 0) {
    y[0] = x[0];
    return;
  }
  const int64_t n = product(out_dims, rank);
  if (n == 0) return;
  int64_t in_strides[kMaxRank];
  int64_t acc = 1;
  for (int32_t d = rank - 1; d >= 0; --d) {
    in_strides[d] = acc;
    acc *= in_dims[d];
  }
  const int32_t last = rank - 1;
  const int32_t inner = out_dims[last];
  const int32_t in_inner = in_dims[last];
  const int64_t rows = n / inner;
  int32_t idx[kMaxRank] = {};     // output index (dims < last)
  int32_t in_idx[kMaxRank] = {};  // = idx mod in_dims, kept incrementally
  int64_t k = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t base = 0;
    for (int32_t d = 0; d < last; ++d) base += in_idx[d] * in_strides[d];
    int32_t jj = 0;
    for (int32_t j = 0; j < inner; ++j) {
      y[k++] = x[base + jj];
      if (++jj == in_inner) jj = 0;
    }
    for (int32_t d = last - 1; d >= 0; --d) {
      if (++in_idx[d] == in_dims[d]) in_idx[d] = 0;
      if (++idx[d] < out_dims[d]) break;
      idx[d] = 0;
      in_idx[d] = 0;
    }
  }
}

// ---- backward kernels (on-device learning; ir/ops/movement.cpp) ---------------------------
// Each writes the whole gradient dx: zeros where the forward op did not read the input.

// Gradient of a strided slice: dx (dx_n elements) = 0, then dx[offset + sum_d i_d *
// in_strides[d]] = dy[i] (dy contiguous with dims dy_dims[rank]); the same strides/offset as
// the forward strided_copy. Slice positions are distinct, so each is written once.
template <typename T>
void slice_grad(const T* dy, T* dx, int32_t dx_n, int32_t rank, const int32_t* dy_dims, const int32_t* in_strides,
                int32_t offset) {
  for (int32_t i = 0; i < dx_n; ++i) dx[i] = T(0);
  if (rank == 0) {
    if (dx_n > 0) dx[offset] = dy[0];
    return;
  }
  const int64_t n = product(dy_dims, rank);
  if (n == 0) return;
  const int32_t inner = dy_dims[rank - 1];
  const int64_t s = in_strides[rank - 1];
  const int64_t rows = n / inner;
  NdIter it(rank - 1, dy_dims, 1, in_strides);
  int64_t k = 0;
  for (int64_t r = 0; r < rows; ++r, it.next()) {
    const int64_t base = offset + it.off[0];
    for (int32_t j = 0; j < inner; ++j) dx[base + j * s] = dy[k++];
  }
}

// Gradient of Split when some outputs carry no gradient: y = [outer, sum chunks] is the
// concatenation of the pieces, where piece i is ins[present[i]] ([outer, chunks[i]]) or zeros
// when present[i] < 0.
template <typename T>
void split_grad(const T* const* ins, const int32_t* present, int32_t n_pieces, T* y, int32_t outer,
                const int32_t* chunks) {
  int64_t k = 0;
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < n_pieces; ++i) {
      const int32_t c = chunks[i];
      if (present[i] < 0) {
        for (int32_t j = 0; j < c; ++j) y[k++] = T(0);
        continue;
      }
      const T* src = ins[present[i]] + static_cast<int64_t>(o) * c;
      for (int32_t j = 0; j < c; ++j) y[k++] = src[j];
    }
  }
}

// Gradient of Gather w.r.t. the data: dx ([outer, axis_dim, inner]) = 0, then row q of each
// outer slice accumulates the dy rows ([outer, n_idx, inner]) gathered from it (repeated
// indices add up). Out-of-range indices (zeros in the forward) contribute nothing, nor does
// row padding_row (>= 0; -1 = none: PyTorch's Embedding padding_idx).
template <typename T, typename I>
void gather_grad(const T* dy, const I* indices, T* dx, int32_t outer, int32_t axis_dim, int32_t inner,
                 int32_t n_idx, int32_t padding_row) {
  const int64_t total = static_cast<int64_t>(outer) * axis_dim * inner;
  for (int64_t i = 0; i < total; ++i) dx[i] = T(0);
  int64_t k = 0;
  for (int32_t o = 0; o < outer; ++o) {
    const int64_t row0 = static_cast<int64_t>(o) * axis_dim;
    for (int32_t j = 0; j < n_idx; ++j, k += inner) {
      int64_t q = static_cast<int64_t>(indices[j]);
      if (q < 0) q += axis_dim;
      if (q < 0 || q >= axis_dim || q == padding_row) continue;
      T* dst = dx + (row0 + q) * inner;
      for (int32_t e = 0; e < inner; ++e) dst[e] += dy[k + e];
    }
  }
}

// Gradient of Pad w.r.t. the data for any mode: dx (in_dims) = 0, then every dy element
// (out_dims) read from a data element (pad_source) is added to it; constant-padded positions
// contribute nothing. Same geometry arguments as pad().
template <typename T>
void pad_grad(const T* dy, T* dx, int32_t rank, const int32_t* in_dims, const int32_t* out_dims,
              const int32_t* pads_begin, int32_t mode) {
  const int64_t in_n = rank == 0 ? 1 : product(in_dims, rank);
  for (int64_t i = 0; i < in_n; ++i) dx[i] = T(0);
  pad_visit(rank, in_dims, out_dims, pads_begin, mode, [&](int64_t k, int64_t src) {
    if (src >= 0) dx[src] += dy[k];
  });
}

}  // namespace ref
}  // namespace tinyodlc
