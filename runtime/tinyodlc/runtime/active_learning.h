// Active learning on the device (TActiLE-style; docs/active-learning.md), shipped with the
// generated code. Header-only C++17, float maths only (no double), no heap, no exceptions.
//
// Scores (the references use exactly these), from p = softmax(logits) over C classes:
//   least-confidence  u_lc(p)  = 1 - max_k p_k
//   margin            u_m(p)   = 1 - (p_(1) - p_(2))        (p_(1) >= p_(2): the two largest)
//   entropy           u_h(p)   = -sum_k p_k ln p_k          (terms with p_k == 0 count 0)
//   hybrid            u_hy     = 0.5 * u_lc(p) / (1 - 1/C) + 0.5 * d(z)
//     with the diversity d(z) = min over the buffered candidates j of
//     ||z - z_j||_2 / (||z||_2 + ||z_j||_2)   (in [0, 1] by the triangle inequality; 0/0 = 0),
//     d = 1 when the buffer holds no candidate; z = the stored sample (its float features).
//   random            a uniform number in [0, 1) from a xorshift32 generator (the baseline).
// A candidate's score is fixed when it is offered.
//
// Candidate buffer: kBuffer slots; each is empty, pending (waiting for a label) or labelled.
// Admission of an offered sample with score s (after the reference-value rule lets it in):
// into the lowest free slot; when no slot is free, it replaces the pending candidate with the
// lowest score (ties: the latest offered) if s is strictly greater; labelled slots are never
// replaced (a label was paid for). So with rule `none` and no labelling, the buffer holds
// exactly the B highest-scoring candidates offered since the last round (ties: the earliest).
//
// Reference-value rules (whether a sample may enter at all), with running means
//   m <- m + (s - m) / min(n, 32)   (n: values averaged so far, counting s; an exact mean for the
//   first 32 values, then an exponential mean with weight 1/32):
//   none  every sample may enter (top-B rule above).
//   info  InfoRV: one reference rv = running mean of the scores of all offered samples; a sample
//         may enter iff no score was seen yet or s > rv (rv is updated after the decision).
//   dual  DualRV: two references, rv_all (as info) and rv_in = running mean of the scores of the
//         admitted samples. While the buffer has a free slot: enter iff s > rv_all (fill with
//         above-average samples); when it is full: enter iff s > max(rv_all, rv_in) (replace
//         only with samples better than what the buffer usually takes).
// The reference values persist across rounds (they track the stream); reset() clears them.
//
// Budget: label() of a pending slot costs one label and fails (< 0) when the budget is spent;
// re-labelling a labelled slot is free; the budget is restored only by reset().
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace tinyodlc {
namespace runtime {
namespace al {

enum Strategy : int32_t { kLeastConfidence = 0, kMargin = 1, kEntropy = 2, kHybrid = 3, kRandom = 4 };
enum RvRule : int32_t { kRvNone = 0, kRvInfo = 1, kRvDual = 2 };
enum SlotStatus : int32_t { kEmpty = 0, kPending = 1, kLabelled = 2 };

// Error codes of label().
constexpr int kErrBudget = -1;      // the budget is spent
constexpr int kErrNotPending = -2;  // the slot is empty or out of range

// p = softmax(x) over n values (max-subtracted).
inline void softmax(const float* x, int n, float* p) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    p[i] = expf(x[i] - mx);
    sum += p[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) p[i] *= inv;
}

inline float least_confidence(const float* p, int n) {
  float mx = p[0];
  for (int i = 1; i < n; ++i) mx = p[i] > mx ? p[i] : mx;
  return 1.0f - mx;
}

inline float margin(const float* p, int n) {
  float a = p[0], b = n > 1 ? p[1] : 0.0f;
  if (b > a) {
    const float t = a;
    a = b;
    b = t;
  }
  for (int i = 2; i < n; ++i) {
    if (p[i] > a) {
      b = a;
      a = p[i];
    } else if (p[i] > b) {
      b = p[i];
    }
  }
  return 1.0f - (a - b);
}

inline float entropy(const float* p, int n) {
  float h = 0.0f;
  for (int i = 0; i < n; ++i)
    if (p[i] > 0.0f) h -= p[i] * logf(p[i]);
  return h;
}

// ||a - b|| / (||a|| + ||b||), 0 when both are zero.
inline float normalized_distance(const float* a, const float* b, int n) {
  float d = 0.0f, na = 0.0f, nb = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float t = a[i] - b[i];
    d += t * t;
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const float den = sqrtf(na) + sqrtf(nb);
  return den > 0.0f ? sqrtf(d) / den : 0.0f;
}

// The uncertainty part of a strategy (hybrid: its least-confidence part, normalized to [0, 1]).
inline float uncertainty(Strategy s, const float* p, int n) {
  switch (s) {
    case kMargin: return margin(p, n);
    case kEntropy: return entropy(p, n);
    case kHybrid: return n > 1 ? least_confidence(p, n) / (1.0f - 1.0f / static_cast<float>(n)) : 0.0f;
    default: return least_confidence(p, n);
  }
}

inline uint32_t xorshift32(uint32_t& s) {
  if (s == 0) s = 0x9E3779B9u;
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

// The candidate buffer: kBuffer samples of kSampleBytes bytes (each a multiple of 16), their
// scores, labels and status, the budget and the reference values. State is plain data: the
// learned-state block that persistence saves.
template <int kBuffer, size_t kSampleBytes>
class Buffer {
 public:
  static_assert(kBuffer >= 1, "at least one candidate slot");
  static_assert(kSampleBytes % 16 == 0, "sample slots keep 16-byte alignment");

  struct State {
    uint8_t samples[kBuffer][kSampleBytes];
    int64_t label[kBuffer];
    float score[kBuffer];
    int32_t status[kBuffer];
    uint32_t seq[kBuffer];      // offer index of the candidate (ties: the earliest wins)
    int32_t budget_left;
    int32_t ready;              // 0 until the first use (no global constructors)
    float rv_all, rv_in;        // reference values (info / dual)
    int32_t n_all, n_in;        // values averaged into them
    uint32_t rng;               // xorshift32 state (random strategy)
    uint32_t offered;           // samples offered since the last reset
    uint32_t seed;              // seed of rng, restored by reset() (saved with the state)
  };

  State& state() { return st_; }
  const State& state() const { return st_; }

  // Restores the budget and empties the buffer (reference values cleared, rng re-seeded with
  // seed, which later reset_keep_seed() calls reuse).
  void reset(int budget, uint32_t seed) {
    memset(&st_, 0, sizeof st_);
    st_.budget_left = budget;
    st_.seed = seed;
    st_.rng = seed ? seed : 0x9E3779B9u;
    st_.ready = 1;
  }
  // reset() with the seed held in the state (the last set_seed(), or the one of reset()).
  void reset_keep_seed(int budget) { reset(budget, st_.seed); }
  // New seed of the random strategy's generator: used now and by later resets.
  void set_seed(uint32_t seed) {
    st_.seed = seed;
    st_.rng = seed ? seed : 0x9E3779B9u;
  }
  bool ready() const { return st_.ready != 0; }

  // Diversity of feature vector z (n floats) against the buffered candidates, whose first n
  // floats of the sample are their features: d(z) above (1 when the buffer is empty).
  float diversity(const float* z, int n) const {
    float best = 1.0f;
    bool any = false;
    for (int j = 0; j < kBuffer; ++j) {
      if (st_.status[j] == kEmpty) continue;
      const float d = normalized_distance(z, reinterpret_cast<const float*>(st_.samples[j]), n);
      if (!any || d < best) best = d;
      any = true;
    }
    return any ? best : 1.0f;
  }
  // A uniform number in [0, 1) (24 bits).
  float uniform() { return static_cast<float>(xorshift32(st_.rng) >> 8) * (1.0f / 16777216.0f); }

  // Admission of a sample with score s under rule rv: the slot to copy it into (now pending, its
  // old content dropped), or -1 if it is not kept. Updates the reference values.
  int admit(float s, RvRule rv) {
    const uint32_t seq = st_.offered++;
    if (!(s == s)) return -1;  // a NaN score is never kept (and not averaged)
    bool may = true;
    int free_slot = -1;
    for (int j = 0; j < kBuffer && free_slot < 0; ++j)
      if (st_.status[j] == kEmpty) free_slot = j;
    if (rv == kRvInfo) {
      may = st_.n_all == 0 || s > st_.rv_all;
    } else if (rv == kRvDual) {
      if (st_.n_all == 0) may = true;
      else if (free_slot >= 0) may = s > st_.rv_all;
      else may = s > st_.rv_all && (st_.n_in == 0 || s > st_.rv_in);
    }
    if (rv != kRvNone) running_mean(st_.rv_all, st_.n_all, s);
    if (!may) return -1;
    int slot = free_slot;
    if (slot < 0) {
      for (int j = 0; j < kBuffer; ++j)
        if (st_.status[j] == kPending && (slot < 0 || st_.score[j] < st_.score[slot] ||
                                          (st_.score[j] == st_.score[slot] && st_.seq[j] > st_.seq[slot])))
          slot = j;
      if (slot < 0 || !(s > st_.score[slot])) return -1;
    }
    st_.status[slot] = kPending;
    st_.score[slot] = s;
    st_.seq[slot] = seq;
    st_.label[slot] = 0;
    if (rv == kRvDual) running_mean(st_.rv_in, st_.n_in, s);
    return slot;
  }
  uint8_t* sample(int slot) { return st_.samples[slot]; }
  const uint8_t* sample(int slot) const { return st_.samples[slot]; }

  // Pending slots, highest score first (ties: earliest offered); returns how many (<= max).
  int pending(int* slots, int max) const {
    if (!slots || max <= 0) return 0;
    int order[kBuffer];
    int n = 0;
    for (int j = 0; j < kBuffer; ++j) {
      if (st_.status[j] != kPending) continue;
      int pos = n++;
      while (pos > 0 && before(j, order[pos - 1])) {
        order[pos] = order[pos - 1];
        --pos;
      }
      order[pos] = j;
    }
    if (n > max) n = max;
    for (int k = 0; k < n; ++k) slots[k] = order[k];
    return n;
  }
  int label(int slot, int64_t y) {
    if (slot < 0 || slot >= kBuffer || st_.status[slot] == kEmpty) return kErrNotPending;
    if (st_.status[slot] == kLabelled) {
      st_.label[slot] = y;  // re-labelling is free
      return 0;
    }
    if (st_.budget_left <= 0) return kErrBudget;
    --st_.budget_left;
    st_.status[slot] = kLabelled;
    st_.label[slot] = y;
    return 0;
  }
  int budget_left() const { return st_.budget_left; }
  int status(int slot) const { return slot >= 0 && slot < kBuffer ? st_.status[slot] : kEmpty; }
  float score(int slot) const { return st_.score[slot]; }
  const int64_t* label_of(int slot) const { return &st_.label[slot]; }
  // Ends a round (after training on the labelled slots): every slot becomes empty.
  void end_round() {
    for (int j = 0; j < kBuffer; ++j) st_.status[j] = kEmpty;
  }

 private:
  State st_{};

  bool before(int a, int b) const {
    return st_.score[a] > st_.score[b] || (st_.score[a] == st_.score[b] && st_.seq[a] < st_.seq[b]);
  }
  static void running_mean(float& m, int32_t& n, float s) {
    if (n < 32) ++n;
    m += (s - m) / static_cast<float>(n);
  }
};

}  // namespace al
}  // namespace runtime
}  // namespace tinyodlc
