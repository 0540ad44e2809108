// Active-learning runtime (runtime/tinyodlc/runtime/active_learning.h, docs/active-learning.md):
// scores against numpy (tests/runtime/al_scores_ref.py), the top-B rule of `none` against a
// brute-force sort, the budget under randomized call orders (property test), pending order, the
// reference-value rules and the diversity term against direct formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tinyodlc/runtime/active_learning.h"

namespace al = tinyodlc::runtime::al;

namespace {

struct Ref {
  int n;
  std::vector<float> logits;
  std::vector<double> p;
  double lc, margin, entropy, hybrid_u;
};

const Ref kRefs[] = {
{3, {-1.29184735f, -1.54681194f, -2.66712809f}, {0.493166546, 0.382176425, 0.124657029}, 0.506833454, 0.889009879, 0.975788208, 0.760250181},
{4, {3.47239375f, -0.670402467f, 2.24005723f, 4.18082142f}, {0.299555058, 0.00475645201, 0.0873533784, 0.608335112}, 0.391664888, 0.691219946, 0.901849391, 0.522219851},
{10, {0.382125735f, -0.0826396346f, -0.109080084f, 0.771290421f, 0.320376843f, 0.825800955f, 0.418493807f, -0.153462574f, -0.141743898f, -0.0295971818f}, {0.109992174, 0.0691061581, 0.0673029047, 0.162320683, 0.103405725, 0.171414472, 0.114066007, 0.0643811512, 0.065140051, 0.0728706753}, 0.828585528, 0.990906211, 2.234148, 0.920650587},
{12, {3.25014496f, -2.95568943f, -2.14381886f, -4.38976717f, -3.26007199f, -0.980579793f, 3.51633167f, 9.00293064f, 2.88493943f, 2.8874805f, -1.41288078f, 23.1983547f}, {2.17071234e-09, 4.37968267e-12, 9.86355694e-12, 1.04383197e-12, 3.2303604e-12, 3.15661679e-11, 2.83273336e-09, 6.83920078e-07, 1.50659156e-09, 1.51042478e-09, 2.0486885e-11, 0.999999308}, 6.9201111e-07, 1.37593119e-06, 1.05626309e-05, 7.54921211e-07},
{2, {-1.32548547f, -0.149932235f}, {0.235852679, 0.764147321}, 0.235852679, 0.471705357, 0.546252058, 0.471705357},
{4, {30.0f, -30.0f, 0.0f, 0.0f}, {1, 8.75651076e-27, 9.35762297e-14, 9.35762297e-14}, 1.86961557e-13, 2.80553358e-13, 5.80153534e-12, 2.49282076e-13},
{5, {1.0f, 1.0f, 1.0f, 1.0f, 1.0f}, {0.2, 0.2, 0.2, 0.2, 0.2}, 0.8, 1, 1.60943791, 1},
{3, {2.0f, 2.0f, -1.0f}, {0.487855551, 0.487855551, 0.0242888977}, 0.512144449, 1, 0.790602612, 0.768216673},
};

void expect_near(double got, double want, const char* what, int c) {
  EXPECT_NEAR(got, want, 2e-6 + 1e-5 * std::fabs(want)) << what << " case " << c;
}

TEST(ActiveLearning, ScoresEqualNumpy) {
  int c = 0;
  for (const Ref& r : kRefs) {
    float p[16] = {};
    al::softmax(r.logits.data(), r.n, p);
    for (int i = 0; i < r.n; ++i) expect_near(p[i], r.p[i], "softmax", c);
    expect_near(al::least_confidence(p, r.n), r.lc, "least-confidence", c);
    expect_near(al::margin(p, r.n), r.margin, "margin", c);
    expect_near(al::entropy(p, r.n), r.entropy, "entropy", c);
    expect_near(al::uncertainty(al::kHybrid, p, r.n), r.hybrid_u, "hybrid uncertainty", c);
    expect_near(al::uncertainty(al::kMargin, p, r.n), r.margin, "uncertainty(margin)", c);
    ++c;
  }
}

constexpr int kB = 5;
using Buf = al::Buffer<kB, 16>;

TEST(ActiveLearning, NoneKeepsExactlyTheTopB) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 200; ++trial) {
    Buf b;
    b.reset(100, 1);
    const int n = 1 + static_cast<int>(gen() % 40);
    std::vector<std::pair<float, int>> offered;  // (score, offer index)
    std::uniform_int_distribution<int> q(0, 7);  // coarse scores: many ties
    for (int i = 0; i < n; ++i) {
      const float s = trial % 2 ? static_cast<float>(q(gen)) : std::uniform_real_distribution<float>(0, 1)(gen);
      const int slot = b.admit(s, al::kRvNone);
      if (slot >= 0) memcpy(b.sample(slot), &i, sizeof i);  // remember which offer sits there
      offered.push_back({s, i});
    }
    // expected: highest scores, ties broken by the earliest offer
    std::sort(offered.begin(), offered.end(),
              [](auto a, auto c) { return a.first > c.first || (a.first == c.first && a.second < c.second); });
    std::vector<int> want, got;
    for (int k = 0; k < std::min(n, kB); ++k) want.push_back(offered[k].second);
    int slots[kB];
    const int m = b.pending(slots, kB);
    for (int k = 0; k < m; ++k) {
      int idx;
      memcpy(&idx, b.sample(slots[k]), sizeof idx);
      got.push_back(idx);
    }
    // pending() lists them most informative first: the same order as the expected list
    EXPECT_EQ(got, want) << "trial " << trial;
  }
}

TEST(ActiveLearning, BudgetIsNeverExceededUnderRandomCallOrders) {
  std::mt19937 gen(2026);
  for (int trial = 0; trial < 300; ++trial) {
    const int budget = static_cast<int>(gen() % 7);
    Buf b;
    b.reset(budget, static_cast<uint32_t>(trial + 1));
    const al::RvRule rv = static_cast<al::RvRule>(gen() % 3);
    int paid = 0, paid_since_reset = 0;
    for (int step = 0; step < 400; ++step) {
      const int op = static_cast<int>(gen() % 10);
      if (op < 4) {
        b.admit(b.uniform(), rv);
      } else if (op < 8) {
        const int slot = static_cast<int>(gen() % (kB + 2)) - 1;  // includes out-of-range slots
        const int before = b.status(slot);
        const int left = b.budget_left();
        const int rc = b.label(slot, static_cast<int64_t>(gen() % 3));
        if (before == al::kPending && left > 0) {
          EXPECT_EQ(rc, 0);
          ++paid_since_reset;
          ++paid;
        } else if (before == al::kLabelled) {
          EXPECT_EQ(rc, 0);  // free
        } else if (before == al::kEmpty) {
          EXPECT_EQ(rc, al::kErrNotPending);
        } else {
          EXPECT_EQ(rc, al::kErrBudget);
        }
      } else if (op == 8) {
        b.end_round();
      } else if (gen() % 8 == 0) {
        b.reset(budget, 3);
        paid_since_reset = 0;
      }
      ASSERT_LE(paid_since_reset, budget);
      ASSERT_EQ(b.budget_left(), budget - paid_since_reset);
      ASSERT_GE(b.budget_left(), 0);
    }
  }
}

TEST(ActiveLearning, LabelledSlotsAreNeverReplaced) {
  Buf b;
  b.reset(10, 1);
  for (int i = 0; i < kB; ++i) ASSERT_EQ(b.admit(0.1f * static_cast<float>(i), al::kRvNone), i);
  ASSERT_EQ(b.label(0, 2), 0);  // the lowest score, labelled
  // a better sample replaces the lowest *pending* one (slot 1), not the labelled slot 0
  EXPECT_EQ(b.admit(0.9f, al::kRvNone), 1);
  EXPECT_EQ(b.status(0), al::kLabelled);
  EXPECT_EQ(*b.label_of(0), 2);
  // a sample no better than every pending one is not kept
  EXPECT_EQ(b.admit(0.15f, al::kRvNone), -1);
  EXPECT_EQ(b.admit(std::nanf(""), al::kRvNone), -1);
}

TEST(ActiveLearning, InfoRvAdmitsAboveTheRunningMean) {
  Buf b;
  b.reset(10, 1);
  // mean of the offered scores, exact for the first 32
  const float s[] = {0.5f, 0.2f, 0.6f, 0.4f, 0.45f, 0.9f};
  double sum = 0;
  for (int i = 0; i < 6; ++i) {
    const bool want = i == 0 || s[i] > static_cast<float>(sum / i);
    EXPECT_EQ(b.admit(s[i], al::kRvInfo) >= 0, want) << i;
    sum += s[i];
    EXPECT_NEAR(b.state().rv_all, sum / (i + 1), 1e-6);
  }
}

TEST(ActiveLearning, DualRvIsStricterWhenFull) {
  al::Buffer<2, 16> b;
  b.reset(10, 1);
  EXPECT_EQ(b.admit(0.5f, al::kRvDual), 0);  // first: always
  EXPECT_EQ(b.admit(0.9f, al::kRvDual), 1);  // > rv_all 0.5
  // full: rv_all = 0.7, rv_in = 0.7; 0.8 > both and > lowest pending 0.5 -> replaces slot 0
  EXPECT_EQ(b.admit(0.8f, al::kRvDual), 0);
  // rv_all = (0.5+0.9+0.8)/3 = 0.733, rv_in = 0.733: 0.72 is below both
  EXPECT_EQ(b.admit(0.72f, al::kRvDual), -1);
  EXPECT_NEAR(b.state().rv_in, (0.5 + 0.9 + 0.8) / 3, 1e-6);
}

TEST(ActiveLearning, DiversityIsTheNormalizedDistanceToTheNearestCandidate) {
  Buf b;  // 16-byte samples: 4 floats
  b.reset(10, 1);
  const float z[4] = {1, 0, 0, 0};
  EXPECT_EQ(b.diversity(z, 4), 1.0f);  // empty buffer
  const float a[4] = {0, 1, 0, 0}, c[4] = {1, 1, 0, 0};
  memcpy(b.sample(b.admit(0.5f, al::kRvNone)), a, 16);
  memcpy(b.sample(b.admit(0.5f, al::kRvNone)), c, 16);
  // to a: sqrt(2) / 2; to c: 1 / (1 + sqrt(2))
  EXPECT_NEAR(b.diversity(z, 4), 1.0 / (1.0 + std::sqrt(2.0)), 1e-6);
}

TEST(ActiveLearning, RandomScoresAreUniformAndSeeded) {
  Buf a, b;
  a.reset(1, 42);
  b.reset(1, 42);
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    const float u = a.uniform();
    ASSERT_EQ(u, b.uniform());
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

}  // namespace
