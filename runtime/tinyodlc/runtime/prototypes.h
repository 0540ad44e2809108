// Prototype store for enrolment and verification (TinySV, few-shot class-incremental learning;
// docs/enrolment.md), shipped with the generated code. Header-only C++17, float maths only (no
// double: fine on single-precision FPUs), no heap, no exceptions.
//
// Definitions (the references use exactly these):
//   prototype(c) = l2normalize(mean_j l2normalize(e_j)) over the embeddings e_j enrolled in c;
//   score(e, c)  = cosine(e, prototype(c)) = <l2normalize(e), prototype(c)>.
// Enrolment keeps a running sum of the normalised embeddings and a count per class (no
// utterance is stored); l2normalize(x) of an all-zero x is all zero.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace tinyodlc {
namespace runtime {

inline void l2normalize(const float* x, float* y, int n) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = ss > 0.0f ? 1.0f / sqrtf(ss) : 0.0f;
  for (int i = 0; i < n; ++i) y[i] = x[i] * inv;
}

template <int kClasses, int kDim>
class PrototypeStore {
 public:
  static_assert(kClasses >= 1 && kDim >= 1, "at least one class and one dimension");

  // Adds embedding e to class cls; returns the class's sample count, or -1 for a bad class, -2
  // for a non-finite embedding (nothing is changed then).
  int add(int cls, const float* e) {
    if (cls < 0 || cls >= kClasses || !e) return -1;
    float n[kDim];
    for (int i = 0; i < kDim; ++i)
      if (!isfinite(e[i])) return -2;
    l2normalize(e, n, kDim);
    for (int i = 0; i < kDim; ++i) state_.sum[cls][i] += n[i];
    ++state_.count[cls];
    update(cls);
    return static_cast<int>(state_.count[cls]);
  }
  const float* prototype(int cls) const {
    return cls >= 0 && cls < kClasses && state_.count[cls] > 0 ? proto_[cls] : nullptr;
  }
  int count(int cls) const { return cls >= 0 && cls < kClasses ? static_cast<int>(state_.count[cls]) : 0; }
  // cosine(e, prototype(cls)); -2 (below any cosine) when cls has no sample.
  float score(const float* e, int cls) const {
    const float* p = prototype(cls);
    if (!p || !e) return -2.0f;
    float n[kDim];
    l2normalize(e, n, kDim);
    float dot = 0.0f;
    for (int i = 0; i < kDim; ++i) dot += n[i] * p[i];
    return dot;
  }
  // The enrolled class with the highest score (ties: the lowest class), or -1 if none.
  int identify(const float* e, float* best_score) const {
    int best = -1;
    float bs = -2.0f;
    for (int c = 0; c < kClasses; ++c) {
      if (!state_.count[c]) continue;
      const float s = score(e, c);
      if (best < 0 || s > bs) {
        best = c;
        bs = s;
      }
    }
    if (best_score) *best_score = bs;
    return best;
  }
  void forget(int cls) {
    if (cls < 0 || cls >= kClasses) return;
    memset(state_.sum[cls], 0, sizeof state_.sum[cls]);
    state_.count[cls] = 0;
    update(cls);
  }
  void reset() {
    memset(&state_, 0, sizeof state_);
    memset(proto_, 0, sizeof proto_);
  }
  // The learned state (what persistence saves): sums and counts. After writing it, call
  // refresh() to recompute the prototypes.
  struct State {
    float sum[kClasses][kDim];
    uint32_t count[kClasses];
  };
  State& state() { return state_; }
  void refresh() {
    for (int c = 0; c < kClasses; ++c) update(c);
  }

  // Public so that the generated learned-state table can take its address as a constant
  // (&store.state_, no constructor); the first member, so the object's address is the state's.
  State state_{};

 private:
  float proto_[kClasses][kDim] = {};

  void update(int cls) {
    if (!state_.count[cls]) {
      memset(proto_[cls], 0, sizeof proto_[cls]);
      return;
    }
    float mean[kDim];
    const float inv = 1.0f / static_cast<float>(state_.count[cls]);
    for (int i = 0; i < kDim; ++i) mean[i] = state_.sum[cls][i] * inv;
    l2normalize(mean, proto_[cls], kDim);
  }
};

// Equal-error-rate threshold: a score s is accepted when s > t. Among the candidate thresholds
// t = every given score, picks the one minimising |FAR(t) - FRR(t)| (FAR: share of impostor
// scores > t; FRR: share of genuine scores <= t); ties: the smallest t. The gap is compared
// exactly, as |fa * n - fr * m| in integers (no rounding can reorder equal gaps). Returns 0 when
// a list is empty or holds a NaN. O((n + m)^2) without memory: meant for the few scores of an
// enrolment session.
inline float eer_threshold(const float* genuine, int n, const float* impostor, int m) {
  if (!genuine || !impostor || n <= 0 || m <= 0) return 0.0f;
  for (int i = 0; i < n; ++i)
    if (genuine[i] != genuine[i]) return 0.0f;
  for (int i = 0; i < m; ++i)
    if (impostor[i] != impostor[i]) return 0.0f;
  float best_t = 0.0f;
  int64_t best_gap = -1;
  for (int k = 0; k < n + m; ++k) {
    const float t = k < n ? genuine[k] : impostor[k - n];
    int64_t fa = 0, fr = 0;
    for (int i = 0; i < m; ++i) fa += impostor[i] > t;
    for (int i = 0; i < n; ++i) fr += genuine[i] <= t;
    int64_t gap = fa * n - fr * m;
    if (gap < 0) gap = -gap;
    if (best_gap < 0 || gap < best_gap || (gap == best_gap && t < best_t)) {
      best_t = t;
      best_gap = gap;
    }
  }
  return best_t;
}

}  // namespace runtime
}  // namespace tinyodlc
