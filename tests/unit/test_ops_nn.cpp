// Over 500 lines on purpose: one test case per behaviour of one layer (a catalogue read by
// section); splitting it would only scatter the cases of the same OpDefs / importer.
// Unit tests of the compute-heavy NN operators (Conv, ConvTranspose, Gemm, MatMul, pooling,
// normalizations, Softmax/LogSoftmax): shape inference, validation errors, and numerics of
// the reference kernels (through ir::evaluate_node) against naive implementations written
// independently here (gather formulations, double accumulation) or values from the ONNX spec.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "ir/graph.h"
#include "ir/op_registry.h"

using namespace tinyodlc::ir;

namespace {

using Ints = std::vector<int64_t>;
using Doubles = std::vector<double>;

// ---- helpers ------------------------------------------------------------------------------
TensorData tensor(DType t, Shape s, const Doubles& v) {
  TensorData d(t, s);
  EXPECT_EQ(static_cast<int64_t>(v.size()), d.numel());
  for (size_t i = 0; i < v.size(); ++i) {
    switch (t) {
      case DType::F32: d.data<float>()[i] = static_cast<float>(v[i]); break;
      case DType::F64: d.data<double>()[i] = v[i]; break;
      case DType::I8: d.data<int8_t>()[i] = static_cast<int8_t>(v[i]); break;
      case DType::U8: d.data<uint8_t>()[i] = static_cast<uint8_t>(v[i]); break;
      case DType::I32: d.data<int32_t>()[i] = static_cast<int32_t>(v[i]); break;
      case DType::I64: d.data<int64_t>()[i] = static_cast<int64_t>(v[i]); break;
      default: ADD_FAILURE() << "unsupported dtype in test helper";
    }
  }
  return d;
}

Doubles random_values(int64_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Doubles v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(dist(gen));  // exactly representable as float
  return v;
}

TensorData random_f32(Shape s, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  return tensor(DType::F32, s, random_values(num_elements(s), seed, lo, hi));
}

Doubles values(const TensorData& t) {
  Doubles v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_f64(i);
  return v;
}

// One node over the given inputs (nullptr = absent optional input); `outputs[k]` false
// leaves output k absent.
struct OneNode {
  Graph g;
  Node* n = nullptr;
  std::vector<const TensorData*> ins;

  OneNode(const std::string& op, std::vector<const TensorData*> inputs, std::map<std::string, Attribute> attrs = {},
          std::vector<bool> outputs = {true}, int opset = 0)
      : ins(std::move(inputs)) {
    std::vector<Value*> in_vals, out_vals;
    for (size_t k = 0; k < ins.size(); ++k)
      in_vals.push_back(ins[k] ? g.add_value("x" + std::to_string(k), ins[k]->dtype, ins[k]->shape) : nullptr);
    for (size_t k = 0; k < outputs.size(); ++k)
      out_vals.push_back(outputs[k] ? g.add_value("y" + std::to_string(k)) : nullptr);
    n = g.add_node(op, in_vals, out_vals, std::move(attrs), "node");
    n->opset = opset;
  }
  void infer() {
    ASSERT_NE(n->def, nullptr);
    n->def->infer(*n);
  }
  std::vector<std::shared_ptr<TensorData>> run() {
    n->def->infer(*n);
    return evaluate_node(*n, ins);
  }
  const Shape& out_shape(size_t k = 0) const { return n->outputs[k]->shape; }
  DType out_dtype(size_t k = 0) const { return n->outputs[k]->dtype; }
  int64_t macs() const { return n->def->macs ? n->def->macs(*n) : 0; }
};

void expect_close(const TensorData& got, const Doubles& want, double atol = 1e-5, double rtol = 1e-4) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 10; ++i) {
    double g = got.get_f64(static_cast<int64_t>(i));
    if (!(std::fabs(g - want[i]) <= atol + rtol * std::fabs(want[i]))) {
      ADD_FAILURE() << "element " << i << ": got " << g << ", want " << want[i];
      ++bad;
    }
  }
}

// Expects the node's inference to throw a CompileError whose message contains `needle`.
void expect_error(OneNode& t, const std::string& needle) {
  try {
    t.n->def->infer(*t.n);
    ADD_FAILURE() << "expected a CompileError containing '" << needle << "'";
  } catch (const CompileError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
    EXPECT_NE(std::string(e.what()).find("node"), std::string::npos) << "message does not name the node: " << e.what();
  }
}

// Row-major flat index <-> multi-index.
Ints unflatten(int64_t i, const Shape& dims) {
  Ints idx(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = i % dims[d];
    i /= dims[d];
  }
  return idx;
}
int64_t flatten(const Ints& idx, const Shape& dims) {
  int64_t f = 0;
  for (size_t d = 0; d < dims.size(); ++d) f = f * dims[d] + idx[d];
  return f;
}

// ---- naive references ---------------------------------------------------------------------
struct Geom {
  Ints strides, dilations, pads_begin, pads_end;
};

// Direct definition: y[n,m,o] = b[m] + sum_{c,k} x[n, g*Cg + c, o*s - p + k*d] * w[m, c, k].
Doubles conv_ref(const TensorData& x, const TensorData& w, const TensorData* b, int64_t group, const Geom& gm,
                 const Shape& y_shape) {
  const Shape& xs = x.shape;
  const Shape& ws = w.shape;
  const size_t r = xs.size() - 2;
  const int64_t cg = xs[1] / group, mg = ws[0] / group;
  Shape ksp(ws.begin() + 2, ws.end());
  Doubles y(static_cast<size_t>(num_elements(y_shape)));
  for (int64_t i = 0; i < num_elements(y_shape); ++i) {
    Ints o = unflatten(i, y_shape);
    int64_t n = o[0], m = o[1], g = m / mg;
    double acc = b ? b->get_f64(m) : 0.0;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t kf = 0; kf < num_elements(ksp); ++kf) {
        Ints k = unflatten(kf, ksp);
        Ints xi{n, g * cg + c};
        bool inside = true;
        for (size_t d = 0; d < r; ++d) {
          int64_t p = o[2 + d] * gm.strides[d] - gm.pads_begin[d] + k[d] * gm.dilations[d];
          inside = inside && p >= 0 && p < xs[2 + d];
          xi.push_back(p);
        }
        if (!inside) continue;
        Ints wi{m, c};
        wi.insert(wi.end(), k.begin(), k.end());
        acc += x.get_f64(flatten(xi, xs)) * w.get_f64(flatten(wi, ws));
      }
    y[static_cast<size_t>(i)] = acc;
  }
  return y;
}

// Gather form of the transposed convolution: output o receives x[i] * w[k] for every
// input position i and tap k with i*s - p + k*d == o.
Doubles conv_transpose_ref(const TensorData& x, const TensorData& w, const TensorData* b, int64_t group,
                           const Geom& gm, const Shape& y_shape) {
  const Shape& xs = x.shape;
  const Shape& ws = w.shape;
  const size_t r = xs.size() - 2;
  const int64_t cg = xs[1] / group, mg = ws[1];
  Shape ksp(ws.begin() + 2, ws.end());
  Doubles y(static_cast<size_t>(num_elements(y_shape)));
  for (int64_t i = 0; i < num_elements(y_shape); ++i) {
    Ints o = unflatten(i, y_shape);
    int64_t n = o[0], m = o[1], g = m / mg;
    double acc = b ? b->get_f64(m) : 0.0;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t kf = 0; kf < num_elements(ksp); ++kf) {
        Ints k = unflatten(kf, ksp);
        Ints xi{n, g * cg + c};
        bool hit = true;
        for (size_t d = 0; d < r && hit; ++d) {
          int64_t t = o[2 + d] + gm.pads_begin[d] - k[d] * gm.dilations[d];
          hit = t >= 0 && t % gm.strides[d] == 0 && t / gm.strides[d] < xs[2 + d];
          xi.push_back(hit ? t / gm.strides[d] : 0);
        }
        if (!hit) continue;
        Ints wi{g * cg + c, m % mg};
        wi.insert(wi.end(), k.begin(), k.end());
        acc += x.get_f64(flatten(xi, xs)) * w.get_f64(flatten(wi, ws));
      }
    y[static_cast<size_t>(i)] = acc;
  }
  return y;
}

// Pooling by enumerating every window tap. Returns values and (max) flat argmax indices,
// row-major or column-major over the spatial dims.
struct PoolRef {
  Doubles y;
  std::vector<int64_t> idx;
};
PoolRef pool_ref(const TensorData& x, const Ints& kernel, const Geom& gm, const Shape& y_shape, bool is_max,
                 bool count_include_pad, bool col_major = false) {
  const Shape& xs = x.shape;
  const size_t r = xs.size() - 2;
  Shape sp(xs.begin() + 2, xs.end());
  PoolRef res;
  for (int64_t i = 0; i < num_elements(y_shape); ++i) {
    Ints o = unflatten(i, y_shape);
    double best = -std::numeric_limits<double>::infinity(), sum = 0;
    int64_t best_idx = -1, count_in = 0, count_pad = 0;
    for (int64_t kf = 0; kf < num_elements(kernel); ++kf) {
      Ints k = unflatten(kf, kernel);
      Ints p(r);
      bool inside = true, in_padded = true;
      for (size_t d = 0; d < r; ++d) {
        p[d] = o[2 + d] * gm.strides[d] - gm.pads_begin[d] + k[d] * gm.dilations[d];
        inside = inside && p[d] >= 0 && p[d] < sp[d];
        in_padded = in_padded && p[d] >= -gm.pads_begin[d] && p[d] < sp[d] + gm.pads_end[d];
      }
      count_pad += in_padded;
      if (!inside) continue;
      ++count_in;
      Ints xi{o[0], o[1]};
      xi.insert(xi.end(), p.begin(), p.end());
      double v = x.get_f64(flatten(xi, xs));
      sum += v;
      if (v > best) {
        best = v;
        int64_t sp_idx = 0;
        if (col_major)
          for (size_t d = r; d-- > 0;) sp_idx = sp_idx * sp[d] + p[d];
        else
          sp_idx = flatten(p, sp);
        best_idx = (o[0] * xs[1] + o[1]) * num_elements(sp) + sp_idx;
      }
    }
    res.y.push_back(is_max ? best : sum / static_cast<double>(count_include_pad ? count_pad : count_in));
    res.idx.push_back(best_idx);
  }
  return res;
}

// y[b, i, j] = sum_k a[b, i, k] * b[b, k, j] for 3-D row-major buffers.
Doubles matmul_ref(const Doubles& a, const Doubles& b, int64_t batch, int64_t m, int64_t n, int64_t k,
                   bool a_batched = true, bool b_batched = true) {
  Doubles y(static_cast<size_t>(batch * m * n));
  for (int64_t bi = 0; bi < batch; ++bi)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          acc += a[static_cast<size_t>((a_batched ? bi : 0) * m * k + i * k + kk)] *
                 b[static_cast<size_t>((b_batched ? bi : 0) * k * n + kk * n + j)];
        y[static_cast<size_t>(bi * m * n + i * n + j)] = acc;
      }
  return y;
}

Attribute ints(Ints v) { return Attribute::Ints(std::move(v)); }
Attribute i(int64_t v) { return Attribute::Int(v); }
Attribute f(float v) { return Attribute::Float(v); }
Attribute s(const char* v) { return Attribute::String(v); }

// ================================== Conv =====================================================
TEST(OpsNN, ConvSpecExampleWithPadding) {
  // ONNX Conv spec example (test_basic_conv_with_padding): x = 0..24 (5x5), W = ones(3x3).
  Doubles xv(25);
  for (int k = 0; k < 25; ++k) xv[static_cast<size_t>(k)] = k;
  TensorData x = tensor(DType::F32, {1, 1, 5, 5}, xv), w = tensor(DType::F32, {1, 1, 3, 3}, Doubles(9, 1.0));
  OneNode t("Conv", {&x, &w}, {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}});
  auto y = t.run();
  EXPECT_EQ(t.out_shape(), (Shape{1, 1, 5, 5}));
  expect_close(*y[0], {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                       93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
  EXPECT_EQ(t.macs(), 25 * 9);
}

TEST(OpsNN, Conv2DGroupsStridesDilationsAsymmetricPadsBias) {
  TensorData x = random_f32({2, 4, 9, 8}, 1), w = random_f32({6, 2, 3, 2}, 2), b = random_f32({6}, 3);
  OneNode t("Conv", {&x, &w, &b},
            {{"group", i(2)}, {"strides", ints({2, 1})}, {"dilations", ints({2, 3})}, {"pads", ints({1, 0, 2, 3})}});
  auto y = t.run();
  // H: (9 + 1 + 2 - 5) / 2 + 1 = 4; W: (8 + 0 + 3 - 4) / 1 + 1 = 8
  ASSERT_EQ(t.out_shape(), (Shape{2, 6, 4, 8}));
  expect_close(*y[0], conv_ref(x, w, &b, 2, {{2, 1}, {2, 3}, {1, 0}, {2, 3}}, t.out_shape()));
  EXPECT_EQ(t.macs(), 2 * 6 * 4 * 8 * 2 * 3 * 2);
}

TEST(OpsNN, ConvDepthwiseWithChannelMultiplier) {
  TensorData x = random_f32({1, 4, 6, 6}, 4), w = random_f32({8, 1, 3, 3}, 5), b = random_f32({8}, 6);
  OneNode t("Conv", {&x, &w, &b}, {{"group", i(4)}, {"pads", ints({1, 1, 1, 1})}});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{1, 8, 6, 6}));
  expect_close(*y[0], conv_ref(x, w, &b, 4, {{1, 1}, {1, 1}, {1, 1}, {1, 1}}, t.out_shape()));
}

TEST(OpsNN, Conv1DAutoPadSameUpperAndLower) {
  TensorData x = random_f32({1, 2, 7}, 7), w = random_f32({3, 2, 4}, 8);
  // out = ceil(7 / 2) = 4; total pad = (4 - 1) * 2 + 4 - 7 = 3: SAME_UPPER 1 + 2, SAME_LOWER 2 + 1.
  for (auto [mode, begin] : {std::pair<const char*, int64_t>{"SAME_UPPER", 1}, {"SAME_LOWER", 2}}) {
    OneNode t("Conv", {&x, &w}, {{"auto_pad", s(mode)}, {"strides", ints({2})}});
    auto y = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{1, 3, 4})) << mode;
    expect_close(*y[0], conv_ref(x, w, nullptr, 1, {{2}, {1}, {begin}, {3 - begin}}, t.out_shape()));
  }
}

TEST(OpsNN, Conv3DValid) {
  TensorData x = random_f32({1, 2, 5, 4, 6}, 9), w = random_f32({2, 2, 2, 3, 2}, 10);
  OneNode t("Conv", {&x, &w}, {{"auto_pad", s("VALID")}, {"strides", ints({1, 1, 2})}, {"pads", ints({5, 5, 5, 5, 5, 5})}});
  auto y = t.run();  // pads are ignored with auto_pad = VALID
  ASSERT_EQ(t.out_shape(), (Shape{1, 2, 4, 2, 3}));
  expect_close(*y[0], conv_ref(x, w, nullptr, 1, {{1, 1, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}}, t.out_shape()));
}

TEST(OpsNN, ConvDouble) {
  TensorData x = tensor(DType::F64, {1, 1, 3}, {1, 2, 3}), w = tensor(DType::F64, {1, 1, 2}, {10, 1});
  OneNode t("Conv", {&x, &w});
  auto y = t.run();
  EXPECT_EQ(t.out_dtype(), DType::F64);
  expect_close(*y[0], {12, 23});
}

TEST(OpsNN, ConvErrors) {
  TensorData x = random_f32({1, 4, 5, 5}, 1), w = random_f32({2, 3, 3, 3}, 2), wok = random_f32({2, 4, 3, 3}, 2);
  TensorData b3 = random_f32({3}, 3), big = random_f32({2, 4, 7, 7}, 4), x6 = random_f32({1, 1, 2, 2, 2, 2}, 5);
  TensorData xi = tensor(DType::I32, {1, 4, 5, 5}, Doubles(100, 1)), w6 = random_f32({1, 1, 1, 1, 1, 1}, 6);
  { OneNode t("Conv", {&x, &w}); expect_error(t, "input channels per group"); }
  { OneNode t("Conv", {&x, &wok}, {{"group", i(3)}}); expect_error(t, "not divisible by group"); }
  { OneNode t("Conv", {&x, &wok, &b3}); expect_error(t, "bias"); }
  { OneNode t("Conv", {&x, &wok}, {{"kernel_shape", ints({2, 2})}}); expect_error(t, "kernel_shape"); }
  { OneNode t("Conv", {&x, &wok}, {{"pads", ints({1, 1})}}); expect_error(t, "'pads' has 2 values, expected 4"); }
  { OneNode t("Conv", {&x, &wok}, {{"pads", ints({-1, 0, 0, 0})}}); expect_error(t, "'pads'"); }
  { OneNode t("Conv", {&x, &wok}, {{"strides", ints({0, 1})}}); expect_error(t, "'strides'"); }
  { OneNode t("Conv", {&x, &wok}, {{"auto_pad", s("SAME")}}); expect_error(t, "auto_pad"); }
  { OneNode t("Conv", {&x, &big}); expect_error(t, "exceeds the padded input size"); }
  { OneNode t("Conv", {&x6, &w6}); expect_error(t, "1 to 3 spatial dims"); }
  { OneNode t("Conv", {&xi, &wok}); expect_error(t, "element type"); }
}

// =============================== ConvTranspose ===============================================
TEST(OpsNN, ConvTransposeGroupsStridesDilationsPadsOutputPadding) {
  TensorData x = random_f32({2, 4, 3, 4}, 11), w = random_f32({4, 3, 3, 2}, 12), b = random_f32({6}, 13);
  OneNode t("ConvTranspose", {&x, &w, &b},
            {{"group", i(2)},
             {"strides", ints({2, 3})},
             {"dilations", ints({1, 2})},
             {"pads", ints({1, 0, 2, 1})},
             {"output_padding", ints({1, 0})}});
  auto y = t.run();
  // H: 2*(3-1) + 1 + (3-1)*1 + 1 - 1 - 2 = 5; W: 3*(4-1) + 0 + (2-1)*2 + 1 - 0 - 1 = 11
  ASSERT_EQ(t.out_shape(), (Shape{2, 6, 5, 11}));
  expect_close(*y[0], conv_transpose_ref(x, w, &b, 2, {{2, 3}, {1, 2}, {1, 0}, {2, 1}}, t.out_shape()));
  EXPECT_EQ(t.macs(), x.numel() * 3 * 3 * 2);
}

TEST(OpsNN, ConvTransposeOutputShapeDerivesPads) {
  TensorData x = random_f32({1, 1, 4}, 14), w = random_f32({1, 2, 3}, 15);
  // natural = 2*(4-1) + 3 = 9; output_shape 6 -> total pad 3: SAME_UPPER puts 1 at the begin,
  // otherwise (spec: NOTSET/SAME_LOWER) 2 at the begin.
  for (auto [mode, begin] : {std::pair<const char*, int64_t>{"SAME_UPPER", 1}, {"NOTSET", 2}, {"SAME_LOWER", 2}}) {
    OneNode t("ConvTranspose", {&x, &w}, {{"strides", ints({2})}, {"output_shape", ints({6})}, {"auto_pad", s(mode)}});
    auto y = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{1, 2, 6})) << mode;
    expect_close(*y[0], conv_transpose_ref(x, w, nullptr, 1, {{2}, {1}, {begin}, {3 - begin}}, t.out_shape()));
  }
  // An output larger than natural: extra outputs at the end get only the bias.
  TensorData b = tensor(DType::F32, {2}, {0.5, -0.25});
  OneNode t("ConvTranspose", {&x, &w, &b}, {{"strides", ints({2})}, {"output_shape", ints({1, 2, 11})}});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{1, 2, 11}));
  expect_close(*y[0], conv_transpose_ref(x, w, &b, 1, {{2}, {1}, {0}, {0}}, t.out_shape()));
  EXPECT_FLOAT_EQ(y[0]->data<float>()[10], 0.5f);
}

TEST(OpsNN, ConvTransposeAutoPadSame3D) {
  TensorData x = random_f32({1, 2, 2, 3, 2}, 16), w = random_f32({2, 1, 2, 3, 3}, 17);
  OneNode t("ConvTranspose", {&x, &w}, {{"auto_pad", s("SAME_UPPER")}, {"strides", ints({2, 1, 2})}});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{1, 1, 4, 3, 4}));
  // totals (natural - out): D 2+2-4 = 0; H 2+3-3 = 2; W 2+3-4 = 1. SAME_UPPER: begin total/2.
  expect_close(*y[0], conv_transpose_ref(x, w, nullptr, 1, {{2, 1, 2}, {1, 1, 1}, {0, 1, 0}, {0, 1, 1}}, t.out_shape()));
}

TEST(OpsNN, ConvTransposeErrors) {
  TensorData x = random_f32({1, 2, 3, 3}, 1), w = random_f32({2, 2, 3, 3}, 2), w3 = random_f32({3, 2, 3, 3}, 2);
  { OneNode t("ConvTranspose", {&x, &w3}); expect_error(t, "input channels"); }
  { OneNode t("ConvTranspose", {&x, &w}, {{"output_padding", ints({1, 0})}}); expect_error(t, "output_padding"); }
  { OneNode t("ConvTranspose", {&x, &w}, {{"pads", ints({3, 3, 3, 3})}}); expect_error(t, "remove the whole output"); }
  { OneNode t("ConvTranspose", {&x, &w}, {{"output_shape", ints({5})}}); expect_error(t, "output_shape"); }
  { OneNode t("ConvTranspose", {&x, &w}, {{"group", i(3)}}); expect_error(t, "not divisible by group"); }
}

// =================================== Gemm ====================================================
TEST(OpsNN, GemmAllBiasShapesAndTransposes) {
  const int64_t M = 3, N = 4, K = 5;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const Shape& cs : {Shape{}, Shape{1}, Shape{N}, Shape{1, N}, Shape{M, 1}, Shape{M, N}, Shape{1, 1}}) {
        TensorData a = random_f32(ta ? Shape{K, M} : Shape{M, K}, 20), b = random_f32(tb ? Shape{N, K} : Shape{K, N}, 21);
        TensorData c = random_f32(cs, 22);
        OneNode t("Gemm", {&a, &b, &c}, {{"transA", i(ta)}, {"transB", i(tb)}, {"alpha", f(0.5f)}, {"beta", f(-2.0f)}});
        auto y = t.run();
        ASSERT_EQ(t.out_shape(), (Shape{M, N}));
        Doubles want(static_cast<size_t>(M * N));
        for (int64_t ii = 0; ii < M; ++ii)
          for (int64_t j = 0; j < N; ++j) {
            double acc = 0;
            for (int64_t k = 0; k < K; ++k)
              acc += a.get_f64(ta ? k * M + ii : ii * K + k) * b.get_f64(tb ? j * K + k : k * N + j);
            // C element by broadcasting rules, written out per shape.
            int64_t ci = 0;
            if (cs.size() == 1) ci = cs[0] == 1 ? 0 : j;
            if (cs.size() == 2) ci = (cs[0] == 1 ? 0 : ii) * cs[1] + (cs[1] == 1 ? 0 : j);
            want[static_cast<size_t>(ii * N + j)] = 0.5 * acc - 2.0 * c.get_f64(ci);
          }
        SCOPED_TRACE(::testing::Message() << "transA=" << ta << " transB=" << tb << " C" << shape_str(cs));
        expect_close(*y[0], want);
      }
}

TEST(OpsNN, GemmNoBiasAndIntegers) {
  TensorData a = tensor(DType::F32, {2, 2}, {1, 2, 3, 4}), b = tensor(DType::F32, {2, 2}, {5, 6, 7, 8});
  OneNode t("Gemm", {&a, &b}, {{"alpha", f(2.0f)}});
  auto y = t.run();
  expect_close(*y[0], {38, 44, 86, 100});
  EXPECT_EQ(t.macs(), 8);

  TensorData ai = tensor(DType::I32, {2, 2}, {1, -2, 3, 4}), bi = tensor(DType::I32, {2, 2}, {5, 6, 7, -8});
  TensorData ci = tensor(DType::I32, {2}, {100, 200});
  OneNode ti("Gemm", {&ai, &bi, &ci});
  auto yi = ti.run();
  EXPECT_EQ(ti.out_dtype(), DType::I32);
  EXPECT_EQ(values(*yi[0]), (Doubles{1 * 5 - 2 * 7 + 100, 1 * 6 + 2 * 8 + 200, 3 * 5 + 4 * 7 + 100, 3 * 6 - 4 * 8 + 200}));
  OneNode bad("Gemm", {&ai, &bi, &ci}, {{"beta", f(0.5f)}});
  expect_error(bad, "alpha/beta");
}

TEST(OpsNN, GemmErrors) {
  TensorData a = random_f32({3, 5}, 1), b = random_f32({4, 5}, 2), c = random_f32({2, 5}, 3), a3 = random_f32({1, 3, 5}, 4);
  { OneNode t("Gemm", {&a, &b}); expect_error(t, "inner dimensions differ"); }
  { OneNode t("Gemm", {&a, &b, &c}, {{"transB", i(1)}}); expect_error(t, "cannot be broadcast"); }
  { OneNode t("Gemm", {&a3, &b}); expect_error(t, "must be 2-D"); }
}

// ================================== MatMul ===================================================
TEST(OpsNN, MatMulBatchBroadcast) {
  TensorData a = random_f32({2, 1, 3, 4}, 30), b = random_f32({5, 4, 2}, 31);
  OneNode t("MatMul", {&a, &b});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{2, 5, 3, 2}));
  Doubles av = values(a), bv = values(b), want;
  for (int64_t i0 = 0; i0 < 2; ++i0)
    for (int64_t i1 = 0; i1 < 5; ++i1) {
      Doubles as(av.begin() + i0 * 12, av.begin() + (i0 + 1) * 12), bs(bv.begin() + i1 * 8, bv.begin() + (i1 + 1) * 8);
      Doubles r = matmul_ref(as, bs, 1, 3, 2, 4);
      want.insert(want.end(), r.begin(), r.end());
    }
  expect_close(*y[0], want);
  EXPECT_EQ(t.macs(), 10 * 3 * 2 * 4);
}

TEST(OpsNN, MatMulVectorOperands) {
  TensorData v = random_f32({4}, 32), m3 = random_f32({3, 4, 2}, 33), m2 = random_f32({2, 3, 4}, 34), w = random_f32({4}, 35);
  {
    OneNode t("MatMul", {&v, &m3});  // [4] x [3,4,2] -> [3,2]
    auto y = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{3, 2}));
    expect_close(*y[0], matmul_ref(values(v), values(m3), 3, 1, 2, 4, false, true));
  }
  {
    OneNode t("MatMul", {&m2, &w});  // [2,3,4] x [4] -> [2,3]
    auto y = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{2, 3}));
    expect_close(*y[0], matmul_ref(values(m2), values(w), 2, 3, 1, 4, true, false));
  }
  {
    OneNode t("MatMul", {&v, &w});  // [4] x [4] -> []
    auto y = t.run();
    ASSERT_EQ(t.out_shape(), Shape{});
    expect_close(*y[0], matmul_ref(values(v), values(w), 1, 1, 1, 4));
  }
}

TEST(OpsNN, MatMulIntegerAndErrors) {
  TensorData a = tensor(DType::I64, {1, 3}, {1, -2, 3}), b = tensor(DType::I64, {3, 1}, {4, 5, -6});
  OneNode t("MatMul", {&a, &b});
  auto y = t.run();
  EXPECT_EQ(t.out_dtype(), DType::I64);
  EXPECT_EQ(values(*y[0]), (Doubles{4 - 10 - 18}));
  TensorData c = random_f32({3, 4}, 1), d = random_f32({5, 2}, 2), e = random_f32({2, 3, 4}, 3), g = random_f32({3, 4, 2}, 4);
  { OneNode u("MatMul", {&c, &d}); expect_error(u, "inner dimensions differ"); }
  { OneNode u("MatMul", {&e, &g}); expect_error(u, "broadcast"); }
  { OneNode u("MatMul", {&a, &c}); expect_error(u, "element type"); }
}

// ================================= Pooling ===================================================
TEST(OpsNN, MaxPool2DWithIndicesBothStorageOrders) {
  TensorData x = random_f32({2, 3, 7, 6}, 40);
  for (int so = 0; so < 2; ++so) {
    OneNode t("MaxPool", {&x},
              {{"kernel_shape", ints({3, 2})},
               {"strides", ints({2, 2})},
               {"pads", ints({1, 0, 1, 1})},
               {"dilations", ints({1, 2})},
               {"ceil_mode", i(1)},
               {"storage_order", i(so)}},
              {true, true});
    auto y = t.run();
    // H: ceil((7 + 2 - 3) / 2) + 1 = 4; W: ceil((6 + 1 - 3) / 2) + 1 = 3
    ASSERT_EQ(t.out_shape(0), (Shape{2, 3, 4, 3}));
    ASSERT_EQ(t.out_shape(1), (Shape{2, 3, 4, 3}));
    EXPECT_EQ(t.out_dtype(1), DType::I64);
    PoolRef r = pool_ref(x, {3, 2}, {{2, 2}, {1, 2}, {1, 0}, {1, 1}}, t.out_shape(), true, false, so == 1);
    expect_close(*y[0], r.y, 0, 0);
    for (size_t k = 0; k < r.idx.size(); ++k) EXPECT_EQ(y[1]->data<int64_t>()[k], r.idx[k]) << "element " << k;
  }
}

TEST(OpsNN, MaxPool3DColumnMajorIndicesAndInt8) {
  TensorData x = random_f32({1, 2, 4, 3, 5}, 41);
  OneNode t("MaxPool", {&x}, {{"kernel_shape", ints({2, 2, 3})}, {"storage_order", i(1)}, {"auto_pad", s("SAME_LOWER")}},
            {true, true});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{1, 2, 4, 3, 5}));
  // SAME_LOWER totals: D 1, H 1, W 2 -> begin pads 1, 1, 1 (the larger half first), end 0, 0, 1
  PoolRef r = pool_ref(x, {2, 2, 3}, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 1}}, t.out_shape(), true, false, true);
  expect_close(*y[0], r.y, 0, 0);
  for (size_t k = 0; k < r.idx.size(); ++k) EXPECT_EQ(y[1]->data<int64_t>()[k], r.idx[k]) << "element " << k;

  TensorData xi = tensor(DType::I8, {1, 1, 2, 3}, {-128, -5, 7, 127, -1, 0});
  OneNode ti("MaxPool", {&xi}, {{"kernel_shape", ints({2, 2})}});
  auto yi = ti.run();
  EXPECT_EQ(ti.out_dtype(), DType::I8);
  EXPECT_EQ(values(*yi[0]), (Doubles{127, 7}));
}

TEST(OpsNN, PoolCeilModeLastWindowMustStartInsideInput) {
  // ONNX example: 2x2 input, kernel 3, stride 3, pads 1, ceil_mode: ceil((2 + 2 - 3) / 3) + 1 = 2,
  // but the second window would start at 3 - 1 = 2 >= 2 (entirely in the end padding): 1 output.
  TensorData x = tensor(DType::F32, {1, 1, 2, 2}, {1, 2, 3, 4});
  OneNode t("AveragePool", {&x},
            {{"kernel_shape", ints({3, 3})}, {"strides", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}, {"ceil_mode", i(1)},
             {"count_include_pad", i(1)}});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), (Shape{1, 1, 1, 1}));
  expect_close(*y[0], {10.0 / 9.0});
}

TEST(OpsNN, AveragePoolCountIncludePadCeilDilations) {
  TensorData x = random_f32({1, 2, 8, 7}, 42);
  for (int cip = 0; cip < 2; ++cip) {
    std::map<std::string, Attribute> attrs{{"kernel_shape", ints({3, 2})},
                                           {"strides", ints({3, 2})},
                                           {"pads", ints({1, 1, 2, 0})},
                                           {"dilations", ints({2, 1})},
                                           {"ceil_mode", i(1)},
                                           {"count_include_pad", i(cip)}};
    OneNode t("AveragePool", {&x}, attrs);
    auto y = t.run();
    // H: ceil((8 + 3 - 5) / 3) + 1 = 3; W: ceil((7 + 1 - 2) / 2) + 1 = 4
    ASSERT_EQ(t.out_shape(), (Shape{1, 2, 3, 4}));
    expect_close(*y[0], pool_ref(x, {3, 2}, {{3, 2}, {2, 1}, {1, 1}, {2, 0}}, t.out_shape(), false, cip).y);
  }
}

TEST(OpsNN, GlobalPools) {
  TensorData x = random_f32({2, 3, 4, 5}, 43);
  OneNode ta("GlobalAveragePool", {&x}), tm("GlobalMaxPool", {&x});
  auto ya = ta.run(), ym = tm.run();
  ASSERT_EQ(ta.out_shape(), (Shape{2, 3, 1, 1}));
  ASSERT_EQ(tm.out_shape(), (Shape{2, 3, 1, 1}));
  Doubles xv = values(x), wa, wm;
  for (int p = 0; p < 6; ++p) {
    double sum = 0, mx = -1e30;
    for (int k = 0; k < 20; ++k) {
      sum += xv[static_cast<size_t>(p * 20 + k)];
      mx = std::max(mx, xv[static_cast<size_t>(p * 20 + k)]);
    }
    wa.push_back(sum / 20);
    wm.push_back(mx);
  }
  expect_close(*ya[0], wa);
  expect_close(*ym[0], wm, 0, 0);
}

TEST(OpsNN, PoolErrors) {
  TensorData x = random_f32({1, 1, 5, 5}, 1), xi = tensor(DType::I32, {1, 1, 2, 2}, {1, 2, 3, 4});
  { OneNode t("MaxPool", {&x}); expect_error(t, "kernel_shape"); }
  { OneNode t("MaxPool", {&x}, {{"kernel_shape", ints({2})}}); expect_error(t, "'kernel_shape' has 1 values"); }
  { OneNode t("MaxPool", {&x}, {{"kernel_shape", ints({2, 2})}, {"storage_order", i(2)}}); expect_error(t, "storage_order"); }
  { OneNode t("MaxPool", {&x}, {{"kernel_shape", ints({2, 2})}, {"pads", ints({2, 0, 0, 0})}}); expect_error(t, "smaller than the window"); }
  { OneNode t("AveragePool", {&x}, {{"kernel_shape", ints({2, 2})}, {"count_include_pad", i(3)}}); expect_error(t, "count_include_pad"); }
  { OneNode t("AveragePool", {&xi}, {{"kernel_shape", ints({2, 2})}}); expect_error(t, "element type"); }
  { OneNode t("GlobalAveragePool", {&xi}); expect_error(t, "element type"); }
}

// ============================== Normalizations ===============================================
TEST(OpsNN, BatchNormInference) {
  TensorData x = random_f32({2, 3, 2, 2}, 50), sc = random_f32({3}, 51), b = random_f32({3}, 52);
  TensorData mean = random_f32({3}, 53), var = random_f32({3}, 54, 0.1, 2.0);
  OneNode t("BatchNormalization", {&x, &sc, &b, &mean, &var}, {{"epsilon", f(1e-3f)}});
  auto y = t.run();
  ASSERT_EQ(t.out_shape(), x.shape);
  Doubles want;
  for (int64_t k = 0; k < x.numel(); ++k) {
    int64_t c = (k / 4) % 3;
    want.push_back((x.get_f64(k) - mean.get_f64(c)) / std::sqrt(var.get_f64(c) + 1e-3) * sc.get_f64(c) + b.get_f64(c));
  }
  expect_close(*y[0], want);
  // Old opsets (9) with a single output behave the same.
  OneNode t9("BatchNormalization", {&x, &sc, &b, &mean, &var}, {{"epsilon", f(1e-3f)}}, {true}, 9);
  expect_close(*t9.run()[0], want);
}

TEST(OpsNN, BatchNormTrainingMode) {
  TensorData x = random_f32({3, 2, 5}, 55), sc = random_f32({2}, 56), b = random_f32({2}, 57);
  TensorData mean = random_f32({2}, 58), var = random_f32({2}, 59, 0.1, 2.0);
  OneNode t("BatchNormalization", {&x, &sc, &b, &mean, &var}, {{"training_mode", i(1)}, {"momentum", f(0.8f)}},
            {true, true, true}, 15);
  auto y = t.run();
  ASSERT_EQ(t.out_shape(1), Shape{2});
  Doubles want_y(15 * 2), want_m, want_v;
  for (int64_t c = 0; c < 2; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t k = 0; k < 5; ++k) sum += x.get_f64((n * 2 + c) * 5 + k);
    double m = sum / 15;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t k = 0; k < 5; ++k) sq += std::pow(x.get_f64((n * 2 + c) * 5 + k) - m, 2);
    double v = sq / 15;  // population variance
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t k = 0; k < 5; ++k) {
        int64_t at = (n * 2 + c) * 5 + k;
        want_y[static_cast<size_t>(at)] = (x.get_f64(at) - m) / std::sqrt(v + 1e-5) * sc.get_f64(c) + b.get_f64(c);
      }
    want_m.push_back(mean.get_f64(c) * 0.8 + m * 0.2);
    want_v.push_back(var.get_f64(c) * 0.8 + v * 0.2);
  }
  expect_close(*y[0], want_y);
  expect_close(*y[1], want_m);
  expect_close(*y[2], want_v);
  // Only Y requested in training mode: still normalized with the batch statistics.
  OneNode t1("BatchNormalization", {&x, &sc, &b, &mean, &var}, {{"training_mode", i(1)}});
  expect_close(*t1.run()[0], want_y);
}

TEST(OpsNN, BatchNormErrors) {
  TensorData x = random_f32({2, 3, 4}, 1), c3 = random_f32({3}, 2), c4 = random_f32({4}, 3);
  { OneNode t("BatchNormalization", {&x, &c3, &c3, &c3, &c4}); expect_error(t, "one value per channel"); }
  { OneNode t("BatchNormalization", {&x, &c3, &c3, &c3, &c3}, {}, {true, true, true}, 15); expect_error(t, "training_mode = 1"); }
  { OneNode t("BatchNormalization", {&x, &c3, &c3, &c3, &c3}, {}, {true, true, true, true, true}, 9); expect_error(t, "not supported"); }
  { OneNode t("BatchNormalization", {&x, &c3, &c3, &c3, &c3}, {{"spatial", i(0)}}, {true}, 7); expect_error(t, "spatial = 0"); }
  { OneNode t("BatchNormalization", {&x, &c3, &c3, &c3}); expect_error(t, "expects 5 inputs"); }
}

TEST(OpsNN, InstanceNorm) {
  TensorData x = random_f32({2, 3, 4}, 60), sc = random_f32({3}, 61), b = random_f32({3}, 62);
  OneNode t("InstanceNormalization", {&x, &sc, &b}, {{"epsilon", f(0.01f)}});
  auto y = t.run();
  Doubles want;
  for (int64_t p = 0; p < 6; ++p) {
    double m = 0, v = 0;
    for (int k = 0; k < 4; ++k) m += x.get_f64(p * 4 + k) / 4;
    for (int k = 0; k < 4; ++k) v += std::pow(x.get_f64(p * 4 + k) - m, 2) / 4;
    for (int k = 0; k < 4; ++k)
      want.push_back((x.get_f64(p * 4 + k) - m) / std::sqrt(v + 0.01) * sc.get_f64(p % 3) + b.get_f64(p % 3));
  }
  expect_close(*y[0], want);
  TensorData b4 = random_f32({4}, 63);
  OneNode bad("InstanceNormalization", {&x, &sc, &b4});
  expect_error(bad, "one value per channel");
}

TEST(OpsNN, LayerNormAxisStatsAndOptionalBias) {
  TensorData x = random_f32({2, 3, 4}, 70), sc = random_f32({1, 3, 4}, 71), b = random_f32({4}, 72);
  for (bool explicit_absent_b : {false, true}) {
    // axis 1 normalizes over [3, 4] (scale [1, 3, 4]); no bias.
    OneNode t("LayerNormalization", {&x, &sc}, {{"axis", i(1)}, {"epsilon", f(0.1f)}}, {true, true, true}, 17);
    if (explicit_absent_b) t.n->inputs.push_back(nullptr);
    auto y = t.run();
    ASSERT_EQ(t.out_shape(1), (Shape{2, 1, 1}));
    ASSERT_EQ(t.out_shape(2), (Shape{2, 1, 1}));
    Doubles want, wm, wi;
    for (int64_t r = 0; r < 2; ++r) {
      double m = 0, v = 0;
      for (int k = 0; k < 12; ++k) m += x.get_f64(r * 12 + k) / 12;
      for (int k = 0; k < 12; ++k) v += std::pow(x.get_f64(r * 12 + k) - m, 2) / 12;
      for (int k = 0; k < 12; ++k) want.push_back((x.get_f64(r * 12 + k) - m) / std::sqrt(v + 0.1) * sc.get_f64(k));
      wm.push_back(m);
      wi.push_back(1 / std::sqrt(v + 0.1));
    }
    expect_close(*y[0], want);
    expect_close(*y[1], wm);
    expect_close(*y[2], wi);
  }
  // Default axis -1 with scale and bias [4], no statistics outputs.
  TensorData s4 = random_f32({4}, 73);
  OneNode t("LayerNormalization", {&x, &s4, &b});
  auto y = t.run();
  Doubles want;
  for (int64_t r = 0; r < 6; ++r) {
    double m = 0, v = 0;
    for (int k = 0; k < 4; ++k) m += x.get_f64(r * 4 + k) / 4;
    for (int k = 0; k < 4; ++k) v += std::pow(x.get_f64(r * 4 + k) - m, 2) / 4;
    for (int k = 0; k < 4; ++k)
      want.push_back((x.get_f64(r * 4 + k) - m) / std::sqrt(v + 1e-5) * s4.get_f64(k) + b.get_f64(k));
  }
  expect_close(*y[0], want);
}

TEST(OpsNN, LayerNormErrors) {
  TensorData x = random_f32({2, 3, 4}, 1), s43 = random_f32({4, 3}, 2), s4 = random_f32({4}, 3);
  { OneNode t("LayerNormalization", {&x, &s43}, {{"axis", i(1)}}); expect_error(t, "normalized shape"); }
  { OneNode t("LayerNormalization", {&x, &s4}, {{"axis", i(3)}}); expect_error(t, "axis 3 is out of range"); }
  { OneNode t("LayerNormalization", {&x, &s4}, {{"stash_type", i(11)}}); expect_error(t, "stash_type"); }
}

// ============================= Softmax / LogSoftmax ==========================================
Doubles softmax_ref(const Doubles& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  Doubles y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return static_cast<size_t>((o * n + k) * inner + i); };
      double mx = -1e300, sum = 0;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, x[at(k)]);
      for (int64_t k = 0; k < n; ++k) sum += std::exp(x[at(k)] - mx);
      for (int64_t k = 0; k < n; ++k) y[at(k)] = log ? x[at(k)] - mx - std::log(sum) : std::exp(x[at(k)] - mx) / sum;
    }
  return y;
}

TEST(OpsNN, SoftmaxSingleAxisAndLegacyCoercion) {
  TensorData x = random_f32({2, 3, 4}, 80, -5, 5);
  for (bool log : {false, true}) {
    const char* op = log ? "LogSoftmax" : "Softmax";
    {
      OneNode t(op, {&x}, {{"axis", i(1)}}, {true}, 13);
      expect_close(*t.run()[0], softmax_ref(values(x), 2, 3, 4, log));
    }
    {
      OneNode t(op, {&x}, {}, {true}, 0);  // newest: default axis -1
      expect_close(*t.run()[0], softmax_ref(values(x), 6, 4, 1, log));
    }
    {
      // opset 11: axis 1 coerces to [2, 12]
      OneNode t(op, {&x}, {{"axis", i(1)}}, {true}, 11);
      expect_close(*t.run()[0], softmax_ref(values(x), 2, 12, 1, log));
    }
    {
      OneNode t(op, {&x}, {}, {true}, 11);  // opset 11 default axis 1
      expect_close(*t.run()[0], softmax_ref(values(x), 2, 12, 1, log));
    }
  }
}

TEST(OpsNN, SoftmaxLargeValuesAreStable) {
  TensorData x = tensor(DType::F32, {1, 4}, {10000, 10001, 10002, 10003});
  OneNode t("Softmax", {&x});
  expect_close(*t.run()[0], softmax_ref(values(x), 1, 4, 1, false));
  OneNode tl("LogSoftmax", {&x});
  expect_close(*tl.run()[0], softmax_ref(values(x), 1, 4, 1, true));
  TensorData xi = tensor(DType::I32, {2}, {1, 2});
  OneNode bad("Softmax", {&xi});
  expect_error(bad, "element type");
  OneNode bad_axis("Softmax", {&x}, {{"axis", i(2)}});
  expect_error(bad_axis, "axis 2 is out of range");
}

}  // namespace
