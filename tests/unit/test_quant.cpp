// int8 quantization: fixed-point arithmetic (against exact rational arithmetic), multiplier
// derivation, ONNX quantize rounding, and the PTQ rewrite of a small float graph.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/graph.h"
#include "ir/interpreter.h"
#include "passes/pass_manager.h"
#include "passes/qdq_fold.h"
#include "passes/quant_utils.h"
#include "passes/quantize.h"
#include "tinyodlc/ref/int8.h"
#include "tinyodlc/ref/int8_out.h"
#include "tinyodlc/ref/quant.h"

using namespace tinyodlc;

namespace {

// round(x * mult / 2^(31 - shift)), ties away from zero, computed exactly in long double
// from the definition of docs/quantization.md when no intermediate rounding applies.
int64_t exact_round(int64_t x, int32_t mult, int32_t shift) {
  long double v = static_cast<long double>(x) * mult / std::ldexp(1.0L, 31 - shift);
  return static_cast<int64_t>(v < 0 ? -std::floor(-v + 0.5L) : std::floor(v + 0.5L));
}

}  // namespace

TEST(QuantArith, MultiplierRepresentsReal) {
  for (double real : {1e-6, 0.0001234, 0.00390625, 0.3, 0.5, 0.75, 0.999999, 1.0, 1.5, 3.99}) {
    auto m = passes::quant::quantize_multiplier(real);
    EXPECT_GE(m.mult, 1 << 30) << real;
    EXPECT_NEAR(std::ldexp(static_cast<double>(m.mult), m.shift - 31), real, real * 1e-9) << real;
  }
  EXPECT_EQ(passes::quant::quantize_multiplier(0.0).mult, 0);
  EXPECT_EQ(passes::quant::quantize_multiplier(1e-12).mult, 0);  // below 2^-31: product is 0
}

TEST(QuantArith, RequantizeMatchesExactRoundingForRightShifts) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> acc(-(1 << 24), 1 << 24);
  int mismatches = 0;
  for (int i = 0; i < 20000; ++i) {
    const double real = std::ldexp(0.5 + (rng() % 1000) / 2000.0, -static_cast<int>(rng() % 12));
    auto m = passes::quant::quantize_multiplier(real);
    const int32_t x = acc(rng);
    const int64_t got = ref::q_multiply(x, m.mult, m.shift);
    // TFLite's double rounding may differ from single rounding by at most 1.
    const int64_t want = exact_round(x, m.mult, m.shift);
    ASSERT_LE(std::llabs(got - want), 1) << x << " " << m.mult << " " << m.shift;
    mismatches += got != want;
  }
  EXPECT_LT(mismatches, 2000);  // double rounding differs only near ties (~4% here)
}

TEST(QuantArith, QLinearRequantizeExactMatchesDoubleReference) {
  // QLinearConv/QLinearMatMul requantize with integers only (no double on the M4). Reference:
  // the ONNX reference's expression in double, exact for |acc| < 2^29 and ratios >= 2^-12
  // (product <= 53 bits, the sum with the zero point needs no rounding either).
  std::mt19937 rng(17);
  std::uniform_int_distribution<int32_t> acc_d(-(1 << 29) + 1, (1 << 29) - 1), small_d(-5000, 5000);
  std::uniform_real_distribution<float> exp_d(-12.0f, 2.0f);
  std::uniform_int_distribution<int32_t> zp8(-128, 127), zpu(0, 255);
  auto ref = [](int32_t acc, float ratio, int32_t zp, int32_t lo, int32_t hi) {
    double v = static_cast<double>(acc) * static_cast<double>(ratio) + zp;
    double r = std::nearbyint(v);  // default rounding mode: half to even
    return static_cast<int32_t>(r < lo ? lo : r > hi ? hi : r);
  };
  int ties = 0;
  for (int i = 0; i < 200000; ++i) {
    const int32_t acc = (i % 2) ? acc_d(rng) : small_d(rng);
    float ratio = std::exp2(exp_d(rng));
    if (i % 5 == 0) ratio = std::ldexp(1.0f, -(i % 12));  // exact powers of two: many exact ties
    const int32_t z8 = zp8(rng), zu = zpu(rng);
    const double v = static_cast<double>(acc) * ratio;
    if (v - std::floor(v) == 0.5) ++ties;
    ASSERT_EQ(ref(acc, ratio, z8, -128, 127), ref::requantize_exact<int8_t>(acc, ratio, z8))
        << acc << " * " << ratio << " + " << z8;
    ASSERT_EQ(ref(acc, ratio, zu, 0, 255), ref::requantize_exact<uint8_t>(acc, ratio, zu))
        << acc << " * " << ratio << " + " << zu;
  }
  EXPECT_GT(ties, 1000);  // the half-to-even branch was exercised
  // edge cases: zero ratio/acc, huge ratio (saturates by sign), tiny ratio (zero point), NaN
  EXPECT_EQ(ref::requantize_exact<int8_t>(0, 3.0f, 7), 7);
  EXPECT_EQ(ref::requantize_exact<int8_t>(5, 1e30f, 0), 127);
  EXPECT_EQ(ref::requantize_exact<int8_t>(-5, 1e30f, 0), -128);
  EXPECT_EQ(ref::requantize_exact<int8_t>(-5, -1e30f, 0), 127);
  EXPECT_EQ(ref::requantize_exact<uint8_t>(1 << 30, 1e-30f, 3), 3);
  EXPECT_EQ(ref::requantize_exact<int8_t>(3, std::nanf(""), 3), 0);
  EXPECT_EQ(ref::requantize_exact<int8_t>(1, 0.5f, 0), 0);   // 0.5 -> 0 (even)
  EXPECT_EQ(ref::requantize_exact<int8_t>(3, 0.5f, 0), 2);   // 1.5 -> 2
  EXPECT_EQ(ref::requantize_exact<int8_t>(1, 0.5f, 1), 2);   // 1.5 -> 2 (zero point before rounding)
  EXPECT_EQ(ref::requantize_exact<int8_t>(-3, 0.5f, 0), -2);  // -1.5 -> -2
}

TEST(QuantArith, KnownValues) {
  // x * 0.5: mult 2^30, shift 0. The doubling high multiply rounds ties toward +infinity.
  EXPECT_EQ(ref::q_multiply(3, 1 << 30, 0), 2);
  EXPECT_EQ(ref::q_multiply(-3, 1 << 30, 0), -1);
  // x * 0.25: high multiply (2.5 -> 3) then divide by 2 rounding half away from zero (1.5 -> 2):
  // TFLite's double rounding gives 2 where single rounding of 1.25 would give 1.
  EXPECT_EQ(ref::q_multiply(5, 1 << 30, -1), 2);
  EXPECT_EQ(ref::q_multiply(6, 1 << 30, -1), 2);    // 1.5 -> 2 (away from zero)
  EXPECT_EQ(ref::q_multiply(-6, 1 << 30, -1), -2);  // -1.5 -> -2
  EXPECT_EQ(ref::q_multiply(100, 1 << 30, 2), 200);  // left shift
  EXPECT_EQ(ref::q_multiply(INT32_MAX, INT32_MAX, 30), 2147483646);  // left shift saturates, no UB
  EXPECT_EQ(ref::q_sat_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
}

TEST(QuantArith, OnnxQuantizeRoundsHalfToEven) {
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.f, -300.f, 2.4f};
  const float s = 1.0f;
  int8_t y[8];
  ref::quantize_linear<int8_t>(x, &s, nullptr, y, 1, 8, 1, false, 0);
  const int8_t want[] = {0, 2, 2, 0, -2, 127, -128, 2};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(y[i], want[i]) << i;
  uint8_t u[8];
  const uint8_t zp = 10;
  ref::quantize_linear<uint8_t>(x, &s, &zp, u, 1, 8, 1, false, 0);
  EXPECT_EQ(u[0], 10);
  EXPECT_EQ(u[6], 0);
}

// Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, quantized with ranges from the float
// interpreter, must become integer ops only and stay close to float.
TEST(QuantPasses, PtqOfSmallCnn) {
  ir::Graph g;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 0.5f);
  auto cst = [&](const std::string& name, ir::Shape s) {
    auto t = std::make_shared<ir::TensorData>(ir::DType::F32, s);
    for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = nd(rng);
    return g.add_constant(name, t);
  };
  ir::Value* x = g.add_value("x", ir::DType::F32, {1, 2, 6, 6});
  x->has_shape = true;
  g.inputs.push_back(x);
  ir::Value* c = g.add_value("c");
  ir::Value* r = g.add_value("r");
  ir::Value* p = g.add_value("p");
  ir::Value* f = g.add_value("f");
  ir::Value* y = g.add_value("y");
  g.add_node("Conv", {x, cst("w", {4, 2, 3, 3}), cst("b", {4})}, {c}, {{"pads", ir::Attribute::Ints({1, 1, 1, 1})}}, "conv");
  g.add_node("Relu", {c}, {r}, {}, "relu");
  g.add_node("GlobalAveragePool", {r}, {p}, {}, "gap");
  g.add_node("Flatten", {p}, {f}, {}, "flat");
  g.add_node("Gemm", {f, cst("fw", {3, 4}), cst("fb", {3})}, {y}, {{"transB", ir::Attribute::Int(1)}}, "fc");
  g.outputs.push_back(y);
  passes::PassManager pm;
  pm.add("shape-inference");
  passes::PassContext ctx;
  pm.run(g, ctx);

  std::vector<ir::TensorData> inputs;
  ir::TensorData xin(ir::DType::F32, {1, 2, 6, 6});
  for (int64_t i = 0; i < xin.numel(); ++i) xin.data<float>()[i] = nd(rng) * 2;
  inputs.push_back(xin);
  const ir::TensorData yf = ir::interpret(g, inputs)[0];

  // Ranges: generous fixed ranges (the calibration code is exercised by the CLI tests).
  std::map<std::string, passes::ActRange> ranges;
  for (const char* v : {"x", "r", "p", "f"}) ranges[v] = {-4, 4};
  ranges["y"] = {-8, 8};
  passes::insert_qdq(g, ranges);
  auto st = passes::qdq_fold(g, true);
  EXPECT_EQ(st.folded, 4);  // conv+relu, gap, flatten, gemm
  passes::PassManager pm2;
  pm2.add("dce");
  pm2.add("shape-inference");
  pm2.run(g, ctx);
  int float_ops = 0;
  for (const auto& n : g.nodes())
    if (n->domain.empty() && n->op != "QuantizeLinear" && n->op != "DequantizeLinear" && n->op != "Flatten")
      ++float_ops;
  EXPECT_EQ(float_ops, 0);
  const ir::TensorData yq = ir::interpret(g, inputs)[0];
  ASSERT_EQ(yq.shape, yf.shape);
  for (int64_t i = 0; i < yf.numel(); ++i) EXPECT_NEAR(yq.data<float>()[i], yf.data<float>()[i], 0.25) << i;
}

// QSoftmax (int8.h qsoftmax_s8): against the float softmax of the dequantized input, within
// one output step plus the LUT rounding; masked elements give 0, a fully masked row gives 0
// everywhere (torch.nan_to_num of the float NaN row).
TEST(QuantKernels, SoftmaxCloseToFloatAndMasks) {
  const float sx = 0.07f, sy = 1.0f / 256;
  const int32_t zy = -128;
  int32_t lut[256];
  for (int d = 0; d < 256; ++d) lut[d] = static_cast<int32_t>(std::nearbyint(1048576.0 * std::exp(-d * double(sx))));
  auto m = passes::quant::quantize_multiplier(1.0 / (double(sy) * 1073741824.0));
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> val(-128, 127);
  const int rows = 40, n = 37;
  std::vector<int8_t> x(rows * n), y(rows * n);
  bool mask[rows * n];
  for (int i = 0; i < rows * n; ++i) {
    x[i] = static_cast<int8_t>(val(rng));
    mask[i] = (i / n) % 3 == 1 && (i % 5 == 0);  // some rows with masked elements
  }
  for (int i = 0; i < n; ++i) mask[6 * n + i] = true;  // row 6: fully masked
  ref::qsoftmax_s8(x.data(), mask, lut, y.data(), rows, n, zy, m.mult, m.shift, -128, 127);
  for (int r = 0; r < rows; ++r) {
    bool all = true;
    for (int i = 0; i < n; ++i) all = all && mask[r * n + i];
    double mx = -1e30, sum = 0;
    for (int i = 0; i < n; ++i)
      if (!mask[r * n + i]) mx = std::max(mx, double(sx) * x[r * n + i]);
    for (int i = 0; i < n; ++i)
      if (!mask[r * n + i]) sum += std::exp(double(sx) * x[r * n + i] - mx);
    for (int i = 0; i < n; ++i) {
      const int got = y[r * n + i];
      if (all || mask[r * n + i]) {
        EXPECT_EQ(got, zy) << "row " << r << " element " << i;
        continue;
      }
      const double p = std::exp(double(sx) * x[r * n + i] - mx) / sum;
      const double want = std::min(127.0, std::nearbyint(p / sy) + zy);
      EXPECT_LE(std::fabs(got - want), 1.0) << "row " << r << " element " << i << " p " << p;
    }
  }
  // unmasked call (mask == nullptr) equals the call with an all-false mask
  std::vector<int8_t> y2(rows * n), y3(rows * n);
  bool none[rows * n] = {};
  ref::qsoftmax_s8(x.data(), nullptr, lut, y2.data(), rows, n, zy, m.mult, m.shift, -128, 127);
  ref::qsoftmax_s8(x.data(), none, lut, y3.data(), rows, n, zy, m.mult, m.shift, -128, 127);
  EXPECT_EQ(y2, y3);
}

// qrms_s8 (tinyodlc.QRms) against the root mean square computed in double from the same int8
// values: the integer sqrt of the fixed-point mean and the one rounding of the output give at most
// one output step of error (mode 0: sqrt; mode 1: c / sqrt, with eps), over random shapes,
// zero points and scales; isqrt exact on its edge cases.
TEST(QuantKernels, RmsMatchesDoubleReference) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{3}, uint64_t{4}, uint64_t{99}, (uint64_t{1} << 62) - 1,
                     uint64_t{4294967295u} * 4294967295u})
    EXPECT_EQ(tinyodlc::ref::q_isqrt64(v), static_cast<uint32_t>(std::floor(std::sqrt(static_cast<long double>(v)))))
        << v;
  std::mt19937 rng(18);
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t outer = 1 + rng() % 3, n = 1 + rng() % 300, inner = 1 + rng() % 4;
    const int32_t x_zp = static_cast<int32_t>(rng() % 256) - 128, y_zp = static_cast<int32_t>(rng() % 64) - 128;
    const double sx = std::ldexp(1.0 + (rng() % 1000) / 1000.0, -static_cast<int>(rng() % 8));
    const int mode = trial % 2;
    const double eps = (trial % 4 < 2) ? 0.0 : 1e-5 * (1 + rng() % 100);
    const double c = mode ? 0.5 + (rng() % 100) / 50.0 : 1.0;
    std::vector<int8_t> x(static_cast<size_t>(outer) * n * inner);
    const int spread = 1 + rng() % 128;  // small and large magnitudes around the zero point
    for (auto& v : x) v = static_cast<int8_t>(std::clamp<int>(x_zp + static_cast<int>(rng() % (2 * spread + 1)) - spread, -128, 127));
    std::vector<double> want(static_cast<size_t>(outer) * inner);
    double top = 0;
    for (int32_t o = 0; o < outer; ++o)
      for (int32_t j = 0; j < inner; ++j) {
        double ss = 0;
        for (int32_t i = 0; i < n; ++i) {
          const double d = sx * (x[(static_cast<size_t>(o) * n + i) * inner + j] - x_zp);
          ss += d * d;
        }
        const double r = std::sqrt(ss / n + eps);
        want[static_cast<size_t>(o) * inner + j] = mode ? (r > 0 ? c / r : 1e30) : r;
        if (std::isfinite(want.back()) && want[static_cast<size_t>(o) * inner + j] < 1e29)
          top = std::max(top, want[static_cast<size_t>(o) * inner + j]);
      }
    const double sy = std::max(top, 1e-6) / (127.0 - y_zp);
    const int f = std::min(15, (60 - 16 - (32 - __builtin_clz(static_cast<unsigned>(n)))) / 2);
    const double two_f = std::ldexp(1.0, f);
    const int64_t eps_q = static_cast<int64_t>(std::nearbyint(eps * two_f * two_f / (sx * sx)));
    const int64_t recip_k = mode ? static_cast<int64_t>(std::nearbyint(c * two_f / (sx * sy))) : 0;
    const auto m = tinyodlc::passes::quant::quantize_multiplier(mode ? 1.0 : sx / (sy * two_f));
    std::vector<int8_t> y(want.size());
    tinyodlc::ref::qrms_s8(x.data(), y.data(), outer, n, inner, x_zp, f, eps_q, mode, recip_k, y_zp, m.mult, m.shift,
                           -128, 127);
    for (size_t k = 0; k < y.size(); ++k) {
      const double expect = std::clamp(std::nearbyint(want[k] / sy) + y_zp, -128.0, 127.0);
      EXPECT_LE(std::fabs(y[k] - expect), 1.0) << "trial " << trial << " mode " << mode << " n " << n << " k " << k
                                               << " want " << want[k];
    }
  }
}

// qmatmul_dq_s8 (tinyodlc.QMatMulDq): exact int32 accumulation (computed here in int64 from the
// definition) times the float scale, bit for bit; per tensor and per column scales, with bias.
TEST(QuantKernels, MatMulDqIsAccumulatorTimesScale) {
  std::mt19937 rng(181);
  for (int trial = 0; trial < 50; ++trial) {
    const int32_t m = 1 + rng() % 4, n = 1 + rng() % 6, k = 1 + rng() % 200;
    const int32_t a_zp = static_cast<int32_t>(rng() % 256) - 128;
    std::vector<int8_t> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n);
    for (auto& v : a) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    for (auto& v : b) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<int32_t> bias(n);
    for (auto& v : bias) v = static_cast<int32_t>(rng() % 200001) - 100000;
    const bool per_col = trial % 2;
    std::vector<float> scale(per_col ? n : 1);
    for (auto& s : scale) s = std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12));
    std::vector<float> y(static_cast<size_t>(m) * n);
    tinyodlc::ref::qmatmul_dq_s8(a.data(), b.data(), trial % 3 ? bias.data() : nullptr, y.data(), m, n, k, a_zp,
                                 scale.data(), static_cast<int32_t>(scale.size()));
    for (int32_t i = 0; i < m; ++i)
      for (int32_t j = 0; j < n; ++j) {
        int64_t acc = trial % 3 ? bias[j] : 0;
        for (int32_t kk = 0; kk < k; ++kk) acc += (a[static_cast<size_t>(i) * k + kk] - a_zp) * b[static_cast<size_t>(kk) * n + j];
        const float want = static_cast<float>(acc) * scale[per_col ? j : 0];
        EXPECT_EQ(y[static_cast<size_t>(i) * n + j], want) << trial << " " << i << " " << j;
      }
  }
}
