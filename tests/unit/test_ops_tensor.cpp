// Over 500 lines on purpose: one test case per behaviour of one layer (a catalogue read by
// section); splitting it would only scatter the cases of the same OpDefs / importer.
// Unit tests of the shape, data-movement, reduction and generator operators
// (ir/ops/{shape_ops,movement,reduce,generators}.cpp). Every node is built by hand, inferred
// and evaluated through its kernel (ir::evaluate_node); expected values come from the ONNX
// spec examples, from numpy (hard-coded), or from naive reference code written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "ir/graph.h"
#include "ir/op_registry.h"

using namespace tinyodlc::ir;

namespace {

template <typename T>
std::shared_ptr<TensorData> tensor(Shape s, const std::vector<T>& v) {
  auto t = std::make_shared<TensorData>(DTypeOf<T>::value, s);
  EXPECT_EQ(static_cast<int64_t>(v.size()), t->numel()) << "test data size";
  for (size_t i = 0; i < v.size() && static_cast<int64_t>(i) < t->numel(); ++i) t->template data<T>()[i] = v[i];
  return t;
}

template <typename T>
std::vector<T> values(const TensorData& t) {
  EXPECT_EQ(t.dtype, DTypeOf<T>::value);
  std::vector<T> r;
  for (int64_t i = 0; i < t.numel(); ++i) r.push_back(t.template data<T>()[i]);
  return r;
}

std::vector<float> iota_f(int64_t n, float start = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

std::vector<float> random_f(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// One node under test, with its input data.
struct Case {
  Graph g;
  std::map<const Value*, std::shared_ptr<TensorData>> data_of;
  Node* n = nullptr;

  Value* data(const std::string& name, std::shared_ptr<TensorData> t) {
    Value* v = g.add_value(name, t->dtype, t->shape);
    data_of[v] = std::move(t);
    return v;
  }
  Value* constant(const std::string& name, std::shared_ptr<TensorData> t) { return g.add_constant(name, std::move(t)); }
  Value* i64s(const std::string& name, const std::vector<int64_t>& v) {
    return constant(name, tensor<int64_t>({static_cast<int64_t>(v.size())}, v));
  }

  Node* node(const std::string& op, std::vector<Value*> ins, size_t n_out, std::map<std::string, Attribute> attrs = {},
             int opset = 0) {
    std::vector<Value*> outs;
    for (size_t k = 0; k < n_out; ++k) outs.push_back(g.add_value("y" + std::to_string(k)));
    n = g.add_node(op, std::move(ins), outs, std::move(attrs), "n");
    EXPECT_NE(n->def, nullptr) << op << " is not registered";
    n->opset = opset;
    if (n->def && n->def->canonicalize_import) n->def->canonicalize_import(*n, g);
    return n;
  }

  void infer() { n->def->infer(*n); }

  std::vector<std::shared_ptr<TensorData>> run() {
    infer();
    std::vector<const TensorData*> ins;
    for (const Value* v : n->inputs) {
      if (!v) ins.push_back(nullptr);
      else if (v->is_constant()) ins.push_back(v->constant.get());
      else ins.push_back(data_of.at(v).get());
    }
    return evaluate_node(*n, ins);
  }
  const Shape& out_shape(size_t k = 0) const { return n->outputs[k]->shape; }
};

// Expects infer to fail with a CompileError whose message contains `needle`.
#define EXPECT_COMPILE_ERROR(stmt, needle)                                                  \
  do {                                                                                      \
    try {                                                                                   \
      stmt;                                                                                 \
      ADD_FAILURE() << "expected a CompileError containing '" << (needle) << "'";         \
    } catch (const CompileError& e) {                                                       \
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();         \
    }                                                                                       \
  } while (0)

// Row-major multi-index helpers for naive references.
std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}
int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t r = 0;
  for (size_t d = 0; d < s.size(); ++d) r = r * s[d] + idx[d];
  return r;
}

}  // namespace

// ============================== views ==================================================
TEST(TensorOps, ReshapeZeroAndNegativeDims) {
  struct C { std::vector<int64_t> spec; Shape want; };
  for (const auto& c : std::vector<C>{{{2, 0, -1}, {2, 3, 4}},
                                      {{0, 0, 2, -1}, {2, 3, 2, 2}},
                                      {{-1}, {24}},
                                      {{4, 2, 3}, {4, 2, 3}},
                                      {{2, 3, 1, -1}, {2, 3, 1, 4}},
                                      {{-1, 2, 3, 4}, {1, 2, 3, 4}}}) {
    Case t;
    auto x = tensor<float>({2, 3, 4}, iota_f(24));
    t.node("Reshape", {t.data("x", x), t.i64s("s", c.spec)}, 1);
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), c.want);
    EXPECT_EQ(values<float>(*out[0]), iota_f(24));
    EXPECT_TRUE(t.n->def->is_view);
  }
}

TEST(TensorOps, ReshapeAllowZero) {
  Case t;
  t.node("Reshape", {t.data("x", tensor<float>({0, 3, 4}, {})), t.i64s("s", {3, 4, 0})}, 1,
         {{"allowzero", Attribute::Int(1)}});
  t.run();
  EXPECT_EQ(t.out_shape(), (Shape{3, 4, 0}));
}

TEST(TensorOps, ReshapeErrors) {
  {
    Case t;
    t.node("Reshape", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.i64s("s", {-1, -1})}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "more than one -1");
  }
  {
    Case t;
    t.node("Reshape", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.i64s("s", {4, 2})}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "cannot reshape [2,3]");
  }
  {
    Case t;
    t.node("Reshape", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.i64s("s", {0, -1})}, 1,
           {{"allowzero", Attribute::Int(1)}});
    EXPECT_COMPILE_ERROR(t.infer(), "both 0 and -1");
  }
  {
    Case t;  // the target shape must be a constant
    t.node("Reshape", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.data("s", tensor<int64_t>({1}, {6}))}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "compile-time constant");
  }
}

TEST(TensorOps, ReshapeOpset1ShapeAttribute) {
  Case t;
  t.node("Reshape", {t.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1, {{"shape", Attribute::Ints({3, 2})}}, 1);
  t.run();
  EXPECT_EQ(t.out_shape(), (Shape{3, 2}));
}

TEST(TensorOps, Flatten) {
  struct C { int64_t axis; Shape want; };
  for (const auto& c : std::vector<C>{{0, {1, 120}}, {1, {2, 60}}, {2, {6, 20}}, {3, {24, 5}}, {4, {120, 1}},
                                      {-1, {24, 5}}, {-2, {6, 20}}, {-3, {2, 60}}, {-4, {1, 120}}}) {
    Case t;
    t.node("Flatten", {t.data("x", tensor<float>({2, 3, 4, 5}, iota_f(120)))}, 1, {{"axis", Attribute::Int(c.axis)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), c.want) << "axis " << c.axis;
    EXPECT_EQ(values<float>(*out[0]), iota_f(120));
  }
  Case t;
  t.node("Flatten", {t.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1, {{"axis", Attribute::Int(3)}});
  EXPECT_COMPILE_ERROR(t.infer(), "out of range");
}

TEST(TensorOps, Squeeze) {
  {
    Case t;
    t.node("Squeeze", {t.data("x", tensor<float>({1, 3, 1, 5}, iota_f(15))), t.i64s("a", {-2})}, 1);
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), (Shape{1, 3, 5}));
    EXPECT_EQ(values<float>(*out[0]), iota_f(15));
  }
  {
    Case t;  // no axes: every 1
    t.node("Squeeze", {t.data("x", tensor<float>({1, 3, 1, 5}, iota_f(15)))}, 1);
    t.run();
    EXPECT_EQ(t.out_shape(), (Shape{3, 5}));
  }
  {
    Case t;  // opset 11: axes attribute
    t.node("Squeeze", {t.data("x", tensor<float>({1, 3, 1, 5}, iota_f(15)))}, 1, {{"axes", Attribute::Ints({0})}}, 11);
    t.run();
    EXPECT_EQ(t.out_shape(), (Shape{3, 1, 5}));
    EXPECT_EQ(t.n->inputs.size(), 2u);
  }
  {
    Case t;
    t.node("Squeeze", {t.data("x", tensor<float>({1, 3}, iota_f(3))), t.i64s("a", {1})}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "is not 1");
  }
}

TEST(TensorOps, Unsqueeze) {
  struct C { Shape in; std::vector<int64_t> axes; Shape want; };
  for (const auto& c : std::vector<C>{{{3, 4, 5}, {0}, {1, 3, 4, 5}},
                                      {{3, 4, 5}, {2}, {3, 4, 1, 5}},
                                      {{1, 3, 1, 5}, {-2}, {1, 3, 1, 1, 5}},
                                      {{3, 4, 5}, {2, 4, 5}, {3, 4, 1, 5, 1, 1}},
                                      {{3, 4, 5}, {5, 4, 2}, {3, 4, 1, 5, 1, 1}},
                                      {{3, 4, 5}, {1, 4}, {3, 1, 4, 5, 1}},
                                      {{}, {0}, {1}}}) {
    Case t;
    int64_t ne = num_elements(c.in);
    t.node("Unsqueeze", {t.data("x", tensor<float>(c.in, iota_f(ne))), t.i64s("a", c.axes)}, 1);
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), c.want);
    EXPECT_EQ(values<float>(*out[0]), iota_f(ne));
  }
  Case t;
  t.node("Unsqueeze", {t.data("x", tensor<float>({3}, iota_f(3))), t.i64s("a", {0, -3})}, 1);  // out rank 3
  EXPECT_COMPILE_ERROR(t.infer(), "repeated");
  Case t2;  // opset 11: axes attribute
  t2.node("Unsqueeze", {t2.data("x", tensor<float>({3}, iota_f(3)))}, 1, {{"axes", Attribute::Ints({1})}}, 11);
  t2.run();
  EXPECT_EQ(t2.out_shape(), (Shape{3, 1}));
}

TEST(TensorOps, IdentityCopies) {
  Case t;
  t.node("Identity", {t.data("x", tensor<int32_t>({2, 2}, {1, -2, 3, -4}))}, 1);
  auto out = t.run();
  EXPECT_EQ(values<int32_t>(*out[0]), (std::vector<int32_t>{1, -2, 3, -4}));
}

// ============================== Shape, Size ===========================================
TEST(TensorOps, ShapeStartEnd) {
  struct C { std::map<std::string, Attribute> attrs; std::vector<int64_t> want; };
  for (const auto& c : std::vector<C>{
           {{}, {3, 4, 5}},
           {{{"start", Attribute::Int(1)}}, {4, 5}},
           {{{"end", Attribute::Int(1)}}, {3}},
           {{{"start", Attribute::Int(-1)}}, {5}},
           {{{"end", Attribute::Int(-1)}}, {3, 4}},
           {{{"start", Attribute::Int(1)}, {"end", Attribute::Int(2)}}, {4}},
           {{{"start", Attribute::Int(-10)}}, {3, 4, 5}},
           {{{"end", Attribute::Int(10)}}, {3, 4, 5}},
           {{{"start", Attribute::Int(2)}, {"end", Attribute::Int(1)}}, {}}}) {
    Case t;
    t.node("Shape", {t.data("x", tensor<float>({3, 4, 5}, iota_f(60)))}, 1, c.attrs);
    EXPECT_TRUE(t.n->def->shape_only);
    t.infer();
    auto out = evaluate_node(*t.n, {nullptr});  // shape-only: input data is not needed
    EXPECT_EQ(values<int64_t>(*out[0]), c.want);
  }
}

TEST(TensorOps, Size) {
  Case t;
  t.node("Size", {t.data("x", tensor<float>({3, 4, 5}, iota_f(60)))}, 1);
  t.infer();
  auto out = evaluate_node(*t.n, {nullptr});
  EXPECT_EQ(t.out_shape(), Shape{});
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{60}));
}

// ============================== Expand, Tile ==========================================
TEST(TensorOps, Expand) {
  {
    Case t;  // spec example: [3,1] to [2,1,6] -> [2,3,6]
    t.node("Expand", {t.data("x", tensor<float>({3, 1}, {1, 2, 3})), t.i64s("s", {2, 1, 6})}, 1);
    auto out = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{2, 3, 6}));
    auto y = values<float>(*out[0]);
    for (int64_t i = 0; i < 36; ++i) EXPECT_EQ(y[i], static_cast<float>((i / 6) % 3 + 1)) << i;
  }
  {
    Case t;  // [3,1] to [3,4]
    t.node("Expand", {t.data("x", tensor<int64_t>({3, 1}, {1, 2, 3})), t.i64s("s", {3, 4})}, 1);
    auto out = t.run();
    ASSERT_EQ(t.out_shape(), (Shape{3, 4}));
    EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
  }
  {
    Case t;  // the input may be larger than the requested shape (bidirectional)
    t.node("Expand", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.i64s("s", {1, 1})}, 1);
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), (Shape{2, 3}));
    EXPECT_EQ(values<float>(*out[0]), iota_f(6));
  }
  {
    Case t;
    t.node("Expand", {t.data("x", tensor<float>({2, 3}, iota_f(6))), t.i64s("s", {4, 3})}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "cannot be broadcast");
  }
}

TEST(TensorOps, Tile) {
  Shape in{2, 3, 1};
  std::vector<int64_t> rep{2, 1, 3};
  Case t;
  auto x = random_f(6, 1);
  t.node("Tile", {t.data("x", tensor<float>(in, x)), t.i64s("r", rep)}, 1);
  auto out = t.run();
  Shape want{4, 3, 3};
  ASSERT_EQ(t.out_shape(), want);
  auto y = values<float>(*out[0]);
  for (int64_t i = 0; i < num_elements(want); ++i) {
    auto idx = unravel(i, want);
    for (size_t d = 0; d < idx.size(); ++d) idx[d] %= in[d];
    EXPECT_EQ(y[i], x[ravel(idx, in)]) << i;
  }
  // spec example
  Case t2;
  t2.node("Tile", {t2.data("x", tensor<float>({2, 2}, {0, 1, 2, 3})), t2.i64s("r", {2, 2})}, 1);
  auto o2 = t2.run();
  EXPECT_EQ(values<float>(*o2[0]), (std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3}));
  Case t3;
  t3.node("Tile", {t3.data("x", tensor<float>({2, 2}, {0, 1, 2, 3})), t3.i64s("r", {2})}, 1);
  EXPECT_COMPILE_ERROR(t3.infer(), "one entry per input dimension");
}

// ============================== Dropout ===============================================
TEST(TensorOps, DropoutInference) {
  auto x = random_f(12, 2);
  Case t;
  t.node("Dropout", {t.data("x", tensor<float>({3, 4}, x)), t.constant("r", tensor<float>({}, {0.5f}))}, 2);
  auto out = t.run();
  EXPECT_EQ(values<float>(*out[0]), x);
  EXPECT_EQ(t.n->outputs[1]->dtype, DType::Bool);
  EXPECT_EQ(values<bool>(*out[1]), std::vector<bool>(12, true));
}

TEST(TensorOps, DropoutTrainingMode) {
  {
    Case t;  // ratio 0: training mode drops nothing
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), t.constant("r", tensor<float>({}, {0.0f})),
                       t.constant("m", tensor<bool>({}, {true}))},
           2);
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(values<bool>(*out[1]), std::vector<bool>(3, true));
  }
  {
    Case t;
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), t.constant("r", tensor<float>({}, {0.5f})),
                       t.constant("m", tensor<bool>({}, {true}))},
           1);
    EXPECT_COMPILE_ERROR(t.infer(), "training-mode Dropout is not supported");
  }
  {
    Case t;  // default ratio 0.5
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), nullptr, t.constant("m", tensor<bool>({}, {true}))}, 1);
    EXPECT_COMPILE_ERROR(t.infer(), "training-mode Dropout is not supported");
  }
  {
    Case t;  // run-time training_mode: ConstantRequired names it, so that drivers can specialize it
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), t.constant("r", tensor<float>({}, {0.5f})),
                       t.data("m", tensor<bool>({}, {false}))},
           1);
    EXPECT_COMPILE_ERROR(t.infer(), "not supported");
    try {
      t.infer();
    } catch (const ConstantRequired& e) {
      EXPECT_EQ(e.value_name(), "m");
    }
  }
  {
    Case t;  // float16 ratio 0 (sign bit set: -0) in training mode
    auto r = std::make_shared<TensorData>(DType::F16, Shape{});
    r->data<uint16_t>()[0] = 0x8000u;
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), t.constant("r", r),
                       t.constant("m", tensor<bool>({}, {true}))},
           1);
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{1, 2, 3}));
  }
  {
    Case t;  // training_mode constant false
    t.node("Dropout", {t.data("x", tensor<float>({3}, {1, 2, 3})), t.constant("r", tensor<float>({}, {0.5f})),
                       t.constant("m", tensor<bool>({}, {false}))},
           1);
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{1, 2, 3}));
  }
}

TEST(TensorOps, DropoutOldOpsets) {
  Case t;  // opset 7: ratio attribute, mask of the input type
  t.node("Dropout", {t.data("x", tensor<float>({2}, {-1, 1}))}, 2, {{"ratio", Attribute::Float(0.2f)}}, 7);
  auto out = t.run();
  EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{-1, 1}));
  EXPECT_EQ(values<float>(*out[1]), (std::vector<float>{1, 1}));
}

// ============================== Transpose =============================================
TEST(TensorOps, TransposeAllPermutations) {
  Shape in{2, 3, 4};
  auto x = random_f(24, 3);
  std::vector<int64_t> perm{0, 1, 2};
  do {
    Case t;
    t.node("Transpose", {t.data("x", tensor<float>(in, x))}, 1, {{"perm", Attribute::Ints(perm)}});
    auto out = t.run();
    Shape want{in[perm[0]], in[perm[1]], in[perm[2]]};
    ASSERT_EQ(t.out_shape(), want);
    auto y = values<float>(*out[0]);
    for (int64_t i = 0; i < 24; ++i) {
      auto oi = unravel(i, want);
      std::vector<int64_t> ii(3);
      for (int d = 0; d < 3; ++d) ii[perm[d]] = oi[d];
      EXPECT_EQ(y[i], x[ravel(ii, in)]);
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(TensorOps, TransposeDefaultAndErrors) {
  Case t;
  t.node("Transpose", {t.data("x", tensor<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6}))}, 1);
  auto out = t.run();
  EXPECT_EQ(t.out_shape(), (Shape{3, 2}));
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  Case t2;
  t2.node("Transpose", {t2.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1, {{"perm", Attribute::Ints({0, 0})}});
  EXPECT_COMPILE_ERROR(t2.infer(), "not a permutation");
}

// ============================== Concat ================================================
TEST(TensorOps, ConcatAxes) {
  auto a = iota_f(8, 1), b = iota_f(8, 9);
  // numpy.concatenate of [2,2,2] tensors 1..8 and 9..16
  struct C { int64_t axis; Shape want; std::vector<float> y; };
  for (const auto& c : std::vector<C>{
           {0, {4, 2, 2}, iota_f(16, 1)},
           {1, {2, 4, 2}, {1, 2, 3, 4, 9, 10, 11, 12, 5, 6, 7, 8, 13, 14, 15, 16}},
           {2, {2, 2, 4}, {1, 2, 9, 10, 3, 4, 11, 12, 5, 6, 13, 14, 7, 8, 15, 16}},
           {-1, {2, 2, 4}, {1, 2, 9, 10, 3, 4, 11, 12, 5, 6, 13, 14, 7, 8, 15, 16}},
           {-3, {4, 2, 2}, iota_f(16, 1)}}) {
    Case t;
    t.node("Concat", {t.data("a", tensor<float>({2, 2, 2}, a)), t.data("b", tensor<float>({2, 2, 2}, b))}, 1,
           {{"axis", Attribute::Int(c.axis)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), c.want);
    EXPECT_EQ(values<float>(*out[0]), c.y) << "axis " << c.axis;
  }
}

TEST(TensorOps, ConcatZeroSizeAndErrors) {
  Case t;
  t.node("Concat", {t.data("a", tensor<int64_t>({2, 0}, {})), t.data("b", tensor<int64_t>({2, 2}, {1, 2, 3, 4})),
                    t.data("c", tensor<int64_t>({2, 1}, {5, 6}))},
         1, {{"axis", Attribute::Int(1)}});
  auto out = t.run();
  EXPECT_EQ(t.out_shape(), (Shape{2, 3}));
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{1, 2, 5, 3, 4, 6}));
  Case t2;
  t2.node("Concat", {t2.data("a", tensor<float>({2, 2}, iota_f(4))), t2.data("b", tensor<float>({3, 3}, iota_f(9)))}, 1,
          {{"axis", Attribute::Int(0)}});
  EXPECT_COMPILE_ERROR(t2.infer(), "does not match");
  Case t3;
  t3.node("Concat", {t3.data("a", tensor<float>({2}, iota_f(2))), t3.data("b", tensor<int64_t>({2}, {1, 2}))}, 1,
          {{"axis", Attribute::Int(0)}});
  EXPECT_COMPILE_ERROR(t3.infer(), "element type");
}

// ============================== Split =================================================
TEST(TensorOps, SplitEqualAndVariable) {
  {
    Case t;
    t.node("Split", {t.data("x", tensor<float>({2, 6}, iota_f(12)))}, 2, {{"axis", Attribute::Int(1)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(0), (Shape{2, 3}));
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{0, 1, 2, 6, 7, 8}));
    EXPECT_EQ(values<float>(*out[1]), (std::vector<float>{3, 4, 5, 9, 10, 11}));
  }
  {
    Case t;
    t.node("Split", {t.data("x", tensor<float>({2, 6}, iota_f(12))), t.i64s("s", {2, 4})}, 2,
           {{"axis", Attribute::Int(-1)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(1), (Shape{2, 4}));
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{0, 1, 6, 7}));
    EXPECT_EQ(values<float>(*out[1]), (std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11}));
  }
  {
    Case t;  // opset 11: split attribute
    t.node("Split", {t.data("x", tensor<float>({6}, iota_f(6)))}, 2, {{"split", Attribute::Ints({4, 2})}}, 11);
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{0, 1, 2, 3}));
    EXPECT_EQ(values<float>(*out[1]), (std::vector<float>{4, 5}));
  }
  {
    Case t;  // zero-size splits
    t.node("Split", {t.data("x", tensor<float>({0}, {})), t.i64s("s", {0, 0, 0})}, 3);
    t.run();
    EXPECT_EQ(t.out_shape(2), (Shape{0}));
  }
}

TEST(TensorOps, SplitNumOutputsUneven) {
  Case t;
  t.node("Split", {t.data("x", tensor<float>({2, 8}, iota_f(16)))}, 3,
         {{"axis", Attribute::Int(1)}, {"num_outputs", Attribute::Int(3)}});
  auto out = t.run();
  EXPECT_EQ(t.out_shape(0), (Shape{2, 3}));
  EXPECT_EQ(t.out_shape(2), (Shape{2, 2}));
  EXPECT_EQ(values<float>(*out[1]), (std::vector<float>{3, 4, 5, 11, 12, 13}));
  EXPECT_EQ(values<float>(*out[2]), (std::vector<float>{6, 7, 14, 15}));
  Case t2;
  t2.node("Split", {t2.data("x", tensor<float>({7}, iota_f(7)))}, 4, {{"num_outputs", Attribute::Int(4)}});
  auto o2 = t2.run();
  EXPECT_EQ(values<float>(*o2[3]), (std::vector<float>{6}));
}

TEST(TensorOps, SplitOmittedOutputAndErrors) {
  Case t;
  t.node("Split", {t.data("x", tensor<float>({6}, iota_f(6)))}, 3);
  t.n->outputs[1] = nullptr;  // omitted output
  auto out = t.run();
  EXPECT_EQ(out[1], nullptr);
  EXPECT_EQ(values<float>(*out[2]), (std::vector<float>{4, 5}));
  Case t2;
  t2.node("Split", {t2.data("x", tensor<float>({7}, iota_f(7)))}, 2);
  EXPECT_COMPILE_ERROR(t2.infer(), "cannot be split evenly");
  Case t3;
  t3.node("Split", {t3.data("x", tensor<float>({6}, iota_f(6))), t3.i64s("s", {2, 3})}, 2);
  EXPECT_COMPILE_ERROR(t3.infer(), "sums to 5");
}

// ============================== Slice =================================================
namespace {
// Python's slice.indices(): the list of indices selected along an axis of length n.
std::vector<int64_t> py_slice(int64_t start, int64_t stop, int64_t step, int64_t n) {
  auto fix = [&](int64_t v, bool is_start) {
    int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? n - 1 : n;
    (void)is_start;
    if (v < 0) {
      v += n;
      if (v < lower) v = lower;
    } else if (v > upper) {
      v = upper;
    }
    return v;
  };
  int64_t s = fix(start, true), e = fix(stop, false);
  std::vector<int64_t> r;
  for (int64_t i = s; step > 0 ? i < e : i > e; i += step) r.push_back(i);
  return r;
}
}  // namespace

TEST(TensorOps, SliceAgainstPythonSemantics) {
  const Shape in{20, 10, 5};
  auto x = random_f(num_elements(in), 4);
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  struct C { std::vector<int64_t> starts, ends, axes, steps; };
  std::vector<C> cases{
      {{0, 0}, {3, 10}, {0, 1}, {1, 1}},           // test_slice
      {{0, 0, 3}, {20, 10, 4}, {}, {}},            // default axes and steps
      {{1}, {1000}, {1}, {1}},                     // end out of bounds
      {{1000}, {1000}, {1}, {1}},                  // start out of bounds
      {{0}, {-1}, {1}, {1}},                       // negative end
      {{20, 10, 4}, {0, 0, 1}, {0, 1, 2}, {-1, -3, -2}},  // negative steps
      {{0, 0, 3}, {20, 10, 4}, {0, -2, -1}, {}},   // negative axes
      {{-1}, {kMin}, {0}, {-1}},                   // reverse with INT64_MIN sentinel
      {{kMin}, {kMax}, {2}, {2}},                  // sentinels, step 2
      {{5}, {2}, {0}, {1}},                        // empty
      {{-100}, {100}, {1}, {-1}},                  // empty, negative step
      {{3}, {-100}, {1}, {-4}},
  };
  for (const auto& c : cases) {
    Case t;
    std::vector<Value*> ins{t.data("x", tensor<float>(in, x)), t.i64s("s", c.starts), t.i64s("e", c.ends)};
    if (!c.axes.empty()) ins.push_back(t.i64s("a", c.axes));
    if (!c.steps.empty()) {
      if (c.axes.empty()) ins.push_back(nullptr);
      ins.push_back(t.i64s("st", c.steps));
    }
    t.node("Slice", ins, 1);
    auto out = t.run();
    // Reference: per axis index lists, then a gather.
    std::vector<std::vector<int64_t>> sel(3);
    for (int d = 0; d < 3; ++d)
      for (int64_t i = 0; i < in[d]; ++i) sel[d].push_back(i);
    for (size_t i = 0; i < c.starts.size(); ++i) {
      int64_t a = c.axes.empty() ? static_cast<int64_t>(i) : (c.axes[i] + 3) % 3;
      int64_t step = c.steps.empty() ? 1 : c.steps[i];
      sel[a] = py_slice(c.starts[i], c.ends[i], step, in[a]);
    }
    Shape want{static_cast<int64_t>(sel[0].size()), static_cast<int64_t>(sel[1].size()),
               static_cast<int64_t>(sel[2].size())};
    ASSERT_EQ(t.out_shape(), want);
    auto y = values<float>(*out[0]);
    for (int64_t i = 0; i < num_elements(want); ++i) {
      auto o = unravel(i, want);
      EXPECT_EQ(y[i], x[ravel({sel[0][o[0]], sel[1][o[1]], sel[2][o[2]]}, in)]);
    }
  }
}

TEST(TensorOps, SliceNegStepsShapeFromOnnxTest) {
  Case t;  // test_slice_neg_steps: expected shape [19,3,2]
  t.node("Slice", {t.data("x", tensor<float>({20, 10, 5}, iota_f(1000))), t.i64s("s", {20, 10, 4}), t.i64s("e", {0, 0, 1}),
                   t.i64s("a", {0, 1, 2}), t.i64s("st", {-1, -3, -2})},
         1);
  t.infer();
  EXPECT_EQ(t.out_shape(), (Shape{19, 3, 2}));
}

TEST(TensorOps, SliceOpset1AndErrors) {
  Case t;
  t.node("Slice", {t.data("x", tensor<float>({2, 4}, iota_f(8)))}, 1,
         {{"starts", Attribute::Ints({1, 0})}, {"ends", Attribute::Ints({2, 3})}, {"axes", Attribute::Ints({0, 1})}}, 9);
  auto out = t.run();
  EXPECT_EQ(t.out_shape(), (Shape{1, 3}));
  EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{4, 5, 6}));
  Case t2;
  t2.node("Slice", {t2.data("x", tensor<float>({4}, iota_f(4))), t2.i64s("s", {0}), t2.i64s("e", {4}), t2.i64s("a", {0}),
                    t2.i64s("st", {0})},
          1);
  EXPECT_COMPILE_ERROR(t2.infer(), "contains 0");
  Case t3;
  t3.node("Slice", {t3.data("x", tensor<float>({4}, iota_f(4))), t3.i64s("s", {0, 1}), t3.i64s("e", {4, 2}),
                    t3.i64s("a", {0, -1})},
          1);
  EXPECT_COMPILE_ERROR(t3.infer(), "repeated");
}

// ============================== Gather ================================================
TEST(TensorOps, GatherAxes) {
  const Shape in{5, 4, 3};
  auto x = random_f(60, 5);
  for (int64_t axis : {0, 1, 2, -1}) {
    Case t;
    int64_t a = (axis + 3) % 3;
    std::vector<int64_t> idx{0, static_cast<int64_t>(in[a]) - 1, -1, 1};  // -1 = last
    t.node("Gather", {t.data("x", tensor<float>(in, x)), t.data("i", tensor<int64_t>({2, 2}, idx))}, 1,
           {{"axis", Attribute::Int(axis)}});
    auto out = t.run();
    Shape want = in;
    want[a] = 2;
    want.insert(want.begin() + a + 1, 2);
    ASSERT_EQ(t.out_shape(), want);
    auto y = values<float>(*out[0]);
    for (int64_t i = 0; i < num_elements(want); ++i) {
      auto o = unravel(i, want);
      int64_t q = idx[o[a] * 2 + o[a + 1]];
      if (q < 0) q += in[a];
      std::vector<int64_t> src;
      for (int64_t d = 0; d < a; ++d) src.push_back(o[d]);
      src.push_back(q);
      for (size_t d = a + 2; d < o.size(); ++d) src.push_back(o[d]);
      EXPECT_EQ(y[i], x[ravel(src, in)]);
    }
  }
}

TEST(TensorOps, GatherScalarInt32IndicesAndErrors) {
  Case t;
  t.node("Gather", {t.data("x", tensor<int64_t>({3, 2}, {1, 2, 3, 4, 5, 6})), t.data("i", tensor<int32_t>({}, {-2}))}, 1);
  auto out = t.run();
  EXPECT_EQ(t.out_shape(), (Shape{2}));
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{3, 4}));
  Case t2;
  t2.node("Gather", {t2.data("x", tensor<float>({3}, iota_f(3))), t2.constant("i", tensor<int64_t>({1}, {3}))}, 1);
  EXPECT_COMPILE_ERROR(t2.infer(), "out of range");
  Case t3;
  t3.node("Gather", {t3.data("x", tensor<float>({3}, iota_f(3))), t3.data("i", tensor<float>({1}, {0}))}, 1);
  EXPECT_COMPILE_ERROR(t3.infer(), "unsupported element type");
  // Out-of-range run-time indices read nothing out of bounds: they produce zeros.
  Case t4;
  t4.node("Gather", {t4.data("x", tensor<float>({3}, {7, 8, 9})), t4.data("i", tensor<int64_t>({3}, {5, -4, 2}))}, 1);
  auto o4 = t4.run();
  EXPECT_EQ(values<float>(*o4[0]), (std::vector<float>{0, 0, 9}));
}

// ============================== Pad ===================================================
TEST(TensorOps, PadModes1D) {
  // Expected values from numpy.pad([1,2,3], ...).
  struct C { std::string mode; std::vector<int64_t> pads; std::vector<int32_t> want; };
  for (const auto& c : std::vector<C>{{"constant", {2, 2}, {9, 9, 1, 2, 3, 9, 9}},
                                      {"reflect", {2, 2}, {3, 2, 1, 2, 3, 2, 1}},
                                      {"edge", {2, 2}, {1, 1, 1, 2, 3, 3, 3}},
                                      {"wrap", {2, 2}, {2, 3, 1, 2, 3, 1, 2}},
                                      {"reflect", {5, 0}, {2, 1, 2, 3, 2, 1, 2, 3}},
                                      {"wrap", {4, 1}, {3, 1, 2, 3, 1, 2, 3, 1}},
                                      {"constant", {-1, 1}, {2, 3, 9}},
                                      {"edge", {0, -2}, {1}}}) {
    Case t;
    t.node("Pad", {t.data("x", tensor<int32_t>({3}, {1, 2, 3})), t.i64s("p", c.pads), t.data("v", tensor<int32_t>({}, {9}))},
           1, {{"mode", Attribute::String(c.mode)}});
    auto out = t.run();
    EXPECT_EQ(values<int32_t>(*out[0]), c.want) << c.mode;
  }
}

TEST(TensorOps, PadSpecExamples2D) {
  std::vector<float> x{1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f};
  struct C { std::string mode; std::vector<float> want; };
  for (const auto& c : std::vector<C>{
           {"constant", {0, 0, 1.0f, 1.2f, 0, 0, 2.3f, 3.4f, 0, 0, 4.5f, 5.7f}},
           {"reflect", {1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f}},
           {"edge", {1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f}},
           {"wrap", {1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f}}}) {
    Case t;  // pads = [0, 2, 0, 0]; constant_value omitted (0)
    t.node("Pad", {t.data("x", tensor<float>({3, 2}, x)), t.i64s("p", {0, 2, 0, 0})}, 1,
           {{"mode", Attribute::String(c.mode)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), (Shape{3, 4}));
    EXPECT_EQ(values<float>(*out[0]), c.want) << c.mode;
  }
}

TEST(TensorOps, PadAxesAndNaive4D) {
  const Shape in{1, 3, 4, 5};
  auto x = random_f(60, 6);
  Case t;  // pads only axes 1 and -1 (3): [begin1, begin3, end1, end3]
  t.node("Pad", {t.data("x", tensor<float>(in, x)), t.i64s("p", {0, 3, 1, 4}), t.constant("v", tensor<float>({}, {1.5f})),
                 t.i64s("a", {1, -1})},
         1);
  auto out = t.run();
  Shape want{1, 4, 4, 12};
  ASSERT_EQ(t.out_shape(), want);
  auto y = values<float>(*out[0]);
  for (int64_t i = 0; i < num_elements(want); ++i) {
    auto o = unravel(i, want);
    int64_t c = o[1], w = o[3] - 3;
    float ref = (c < 3 && w >= 0 && w < 5) ? x[ravel({0, c, o[2], w}, in)] : 1.5f;
    EXPECT_EQ(y[i], ref) << i;
  }
}

TEST(TensorOps, PadOpset2AndErrors) {
  Case t;
  t.node("Pad", {t.data("x", tensor<float>({2}, {1, 2}))}, 1,
         {{"pads", Attribute::Ints({1, 0})}, {"value", Attribute::Float(7)}}, 2);
  auto out = t.run();
  EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{7, 1, 2}));
  Case t2;
  t2.node("Pad", {t2.data("x", tensor<float>({2}, {1, 2})), t2.i64s("p", {1, 0})}, 1,
          {{"mode", Attribute::String("symmetric")}});
  EXPECT_COMPILE_ERROR(t2.infer(), "unsupported mode 'symmetric'");
  Case t3;
  t3.node("Pad", {t3.data("x", tensor<float>({2}, {1, 2})), t3.i64s("p", {-2, -1})}, 1);
  EXPECT_COMPILE_ERROR(t3.infer(), "below zero");
  Case t4;
  t4.node("Pad", {t4.data("x", tensor<float>({0}, {})), t4.i64s("p", {1, 0})}, 1, {{"mode", Attribute::String("edge")}});
  EXPECT_COMPILE_ERROR(t4.infer(), "size 0");
  Case t5;
  t5.node("Pad", {t5.data("x", tensor<float>({2, 2}, iota_f(4))), t5.i64s("p", {1, 0})}, 1);
  EXPECT_COMPILE_ERROR(t5.infer(), "2 * 2 entries");
}

// ============================== reductions ============================================
namespace {
// Naive reduction in double over the reduced axes `red` of `in`, keepdims layout.
std::vector<double> naive_reduce(const std::vector<float>& x, const Shape& in, const std::vector<bool>& red,
                                 const std::string& op) {
  Shape kept = in;
  for (size_t d = 0; d < in.size(); ++d)
    if (red[d]) kept[d] = 1;
  std::vector<std::vector<double>> sets(static_cast<size_t>(num_elements(kept)));
  for (int64_t i = 0; i < num_elements(in); ++i) {
    auto idx = unravel(i, in);
    for (size_t d = 0; d < in.size(); ++d)
      if (red[d]) idx[d] = 0;
    sets[ravel(idx, kept)].push_back(x[i]);
  }
  std::vector<double> r;
  for (const auto& s : sets) {
    double v = 0;
    if (op == "ReduceSum") for (double e : s) v += e;
    if (op == "ReduceMean") { for (double e : s) v += e; v /= static_cast<double>(s.size()); }
    if (op == "ReduceProd") { v = 1; for (double e : s) v *= e; }
    if (op == "ReduceMax") { v = -INFINITY; for (double e : s) v = std::max(v, e); }
    if (op == "ReduceMin") { v = INFINITY; for (double e : s) v = std::min(v, e); }
    if (op == "ReduceL1") for (double e : s) v += std::fabs(e);
    if (op == "ReduceL2") { for (double e : s) v += e * e; v = std::sqrt(v); }
    if (op == "ReduceSumSquare") for (double e : s) v += e * e;
    if (op == "ReduceLogSum") { for (double e : s) v += e; v = std::log(v); }
    if (op == "ReduceLogSumExp") { for (double e : s) v += std::exp(e); v = std::log(v); }
    r.push_back(v);
  }
  return r;
}
}  // namespace

TEST(TensorOps, ReductionsAgainstNaive) {
  const Shape in{3, 2, 4};
  std::vector<float> x = random_f(24, 7);
  std::vector<float> xpos(x.size());
  for (size_t i = 0; i < x.size(); ++i) xpos[i] = std::fabs(x[i]) + 0.1f;  // for ReduceLogSum
  const std::vector<std::vector<int64_t>> axes_sets{{}, {0}, {1}, {-1}, {0, 2}, {2, 0, 1}, {-3, -2}};
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceProd", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
                         "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}) {
    const auto& data = std::string(op) == "ReduceLogSum" ? xpos : x;
    for (const auto& axes : axes_sets) {
      for (int keep : {0, 1}) {
        Case t;
        std::vector<Value*> ins{t.data("x", tensor<float>(in, data))};
        if (!axes.empty()) ins.push_back(t.i64s("a", axes));
        t.node(op, ins, 1, {{"keepdims", Attribute::Int(keep)}});
        auto out = t.run();
        std::vector<bool> red(3, axes.empty());
        for (int64_t a : axes) red[(a + 3) % 3] = true;
        Shape want;
        for (size_t d = 0; d < 3; ++d)
          if (!red[d] || keep) want.push_back(red[d] ? 1 : in[d]);
        EXPECT_EQ(t.out_shape(), want) << op;
        auto ref = naive_reduce(data, in, red, op);
        auto y = values<float>(*out[0]);
        ASSERT_EQ(y.size(), ref.size());
        for (size_t i = 0; i < y.size(); ++i)
          EXPECT_NEAR(y[i], ref[i], 1e-4 * std::max(1.0, std::fabs(ref[i]))) << op << " keepdims " << keep << " i " << i;
      }
    }
  }
}

TEST(TensorOps, ReduceNoopWithEmptyAxes) {
  auto x = random_f(12, 8);
  for (const char* op : {"ReduceSum", "ReduceMax", "ReduceMean"}) {
    Case t;
    t.node(op, {t.data("x", tensor<float>({3, 4}, x)), t.i64s("a", {})}, 1, {{"noop_with_empty_axes", Attribute::Int(1)}});
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), (Shape{3, 4}));
    EXPECT_EQ(values<float>(*out[0]), x) << op;
  }
  Case t;  // each element is its own reduction set: ReduceSumSquare gives x^2 (onnx reference)
  t.node("ReduceSumSquare", {t.data("x", tensor<float>({2}, {-3, 2}))}, 1, {{"noop_with_empty_axes", Attribute::Int(1)}});
  auto out = t.run();
  EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{9, 4}));
  Case t2;  // empty axes without noop: reduce everything
  t2.node("ReduceSum", {t2.data("x", tensor<float>({3, 4}, x)), t2.i64s("a", {})}, 1);
  auto o2 = t2.run();
  EXPECT_EQ(t2.out_shape(), (Shape{1, 1}));
  EXPECT_NEAR(values<float>(*o2[0])[0], std::accumulate(x.begin(), x.end(), 0.0), 1e-4);
}

TEST(TensorOps, ReduceEmptySets) {
  struct C { const char* op; float want; };
  for (const auto& c : std::vector<C>{{"ReduceSum", 0.0f}, {"ReduceProd", 1.0f}, {"ReduceMax", -INFINITY},
                                      {"ReduceMin", INFINITY}, {"ReduceL1", 0.0f}, {"ReduceL2", 0.0f},
                                      {"ReduceSumSquare", 0.0f}, {"ReduceLogSum", -INFINITY},
                                      {"ReduceLogSumExp", -INFINITY}}) {
    Case t;
    t.node(c.op, {t.data("x", tensor<float>({2, 0, 4}, {})), t.i64s("a", {1})}, 1);
    auto out = t.run();
    EXPECT_EQ(t.out_shape(), (Shape{2, 1, 4}));
    EXPECT_EQ(values<float>(*out[0]), std::vector<float>(8, c.want)) << c.op;
  }
  Case t;  // a non-reduced zero dim: empty output
  t.node("ReduceSum", {t.data("x", tensor<float>({2, 0, 4}, {})), t.i64s("a", {2})}, 1);
  t.run();
  EXPECT_EQ(t.out_shape(), (Shape{2, 0, 1}));
}

TEST(TensorOps, ReduceIntegerAndBool) {
  Case t;
  t.node("ReduceSum", {t.data("x", tensor<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6})), t.i64s("a", {1})}, 1,
         {{"keepdims", Attribute::Int(0)}});
  auto out = t.run();
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{6, 15}));
  Case t2;
  t2.node("ReduceMean", {t2.data("x", tensor<int32_t>({2, 3}, {1, 2, 4, -4, -5, -7})), t2.i64s("a", {1})}, 1);
  auto o2 = t2.run();
  EXPECT_EQ(values<int32_t>(*o2[0]), (std::vector<int32_t>{2, -5}));  // 7/3 and -16/3 truncated
  Case t3;  // onnx test_reduce_max_bool_inputs
  t3.node("ReduceMax", {t3.data("x", tensor<bool>({4, 2}, {true, true, true, false, false, true, false, false})),
                        t3.i64s("a", {1})},
          1);
  auto o3 = t3.run();
  EXPECT_EQ(values<bool>(*o3[0]), (std::vector<bool>{true, true, true, false}));
  Case t4;
  t4.node("ReduceMin", {t4.data("x", tensor<bool>({2, 2}, {true, false, true, true})), t4.i64s("a", {1})}, 1);
  auto o4 = t4.run();
  EXPECT_EQ(values<bool>(*o4[0]), (std::vector<bool>{false, true}));
  Case t5;  // int8 sum wraps instead of overflowing
  t5.node("ReduceSum", {t5.data("x", tensor<int8_t>({3}, {100, 100, 100}))}, 1);
  auto o5 = t5.run();
  EXPECT_EQ(values<int8_t>(*o5[0]), (std::vector<int8_t>{44}));
  Case t6;
  t6.node("ReduceSum", {t6.data("x", tensor<bool>({2}, {true, true}))}, 1);
  EXPECT_COMPILE_ERROR(t6.infer(), "unsupported element type");
}

TEST(TensorOps, ReduceLogSumExpLargeInputs) {
  Case t;
  t.node("ReduceLogSumExp", {t.data("x", tensor<float>({2, 2}, {1000, 1000, -1000, -1000}))}, 1,
         {{"keepdims", Attribute::Int(0)}, {"axes", Attribute::Ints({1})}}, 13);  // opset 13: axes attribute
  auto out = t.run();
  auto y = values<float>(*out[0]);
  EXPECT_NEAR(y[0], 1000.0f + std::log(2.0f), 1e-3);
  EXPECT_NEAR(y[1], -1000.0f + std::log(2.0f), 1e-3);
}

TEST(TensorOps, ReduceOldOpsetAxesAttribute) {
  Case t;  // ReduceSum-11: axes attribute; ReduceSum-13 takes an input
  t.node("ReduceSum", {t.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1, {{"axes", Attribute::Ints({0})}}, 11);
  auto out = t.run();
  EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{3, 5, 7}));
  Case t2;
  t2.node("ReduceMean", {t2.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1,
          {{"axes", Attribute::Ints({1})}, {"keepdims", Attribute::Int(0)}}, 13);
  auto o2 = t2.run();
  EXPECT_EQ(values<float>(*o2[0]), (std::vector<float>{1, 4}));
  Case t3;
  t3.node("ReduceMax", {t3.data("x", tensor<float>({2, 3}, iota_f(6))), t3.i64s("a", {1, -1})}, 1);
  EXPECT_COMPILE_ERROR(t3.infer(), "repeated");
}

TEST(TensorOps, ArgMaxArgMin) {
  {
    // ONNX spec examples: data [[2,2],[3,10]]
    struct C { const char* op; int64_t axis; int keep; int last; Shape shape; std::vector<int64_t> want; };
    for (const auto& c : std::vector<C>{{"ArgMax", 1, 1, 0, {2, 1}, {0, 1}},
                                        {"ArgMax", 1, 1, 1, {2, 1}, {1, 1}},
                                        {"ArgMax", 0, 1, 0, {1, 2}, {1, 1}},
                                        {"ArgMax", -1, 0, 0, {2}, {0, 1}},
                                        {"ArgMin", 1, 1, 0, {2, 1}, {0, 0}},
                                        {"ArgMin", 1, 1, 1, {2, 1}, {1, 0}},
                                        {"ArgMin", 0, 0, 0, {2}, {0, 0}}}) {
      Case t;
      t.node(c.op, {t.data("x", tensor<float>({2, 2}, {2, 2, 3, 10}))}, 1,
             {{"axis", Attribute::Int(c.axis)}, {"keepdims", Attribute::Int(c.keep)},
              {"select_last_index", Attribute::Int(c.last)}});
      auto out = t.run();
      EXPECT_EQ(t.out_shape(), c.shape);
      EXPECT_EQ(values<int64_t>(*out[0]), c.want) << c.op << " axis " << c.axis << " last " << c.last;
    }
  }
  // Random data vs naive, axis 1 of [2,3,4]
  auto x = random_f(24, 9);
  Case t;
  t.node("ArgMax", {t.data("x", tensor<float>({2, 3, 4}, x))}, 1, {{"axis", Attribute::Int(1)}});
  auto out = t.run();
  auto y = values<int64_t>(*out[0]);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t i = 0; i < 4; ++i) {
      int64_t best = 0;
      for (int64_t a = 1; a < 3; ++a)
        if (x[o * 12 + a * 4 + i] > x[o * 12 + best * 4 + i]) best = a;
      EXPECT_EQ(y[o * 4 + i], best);
    }
  Case t2;
  t2.node("ArgMax", {t2.data("x", tensor<float>({2, 0}, {}))}, 1, {{"axis", Attribute::Int(1)}});
  EXPECT_COMPILE_ERROR(t2.infer(), "size 0");
}

// ============================== generators ============================================
TEST(TensorOps, ConstantOfShape) {
  {
    Case t;  // default: float 0
    t.node("ConstantOfShape", {t.i64s("s", {2, 3})}, 1);
    auto out = t.run();
    EXPECT_EQ(t.n->outputs[0]->dtype, DType::F32);
    EXPECT_EQ(values<float>(*out[0]), std::vector<float>(6, 0.0f));
  }
  {
    Case t;
    t.node("ConstantOfShape", {t.i64s("s", {4, 3, 2})}, 1, {{"value", Attribute::Tensor(tensor<float>({1}, {1.0f}))}});
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), std::vector<float>(24, 1.0f));
  }
  {
    Case t;
    t.node("ConstantOfShape", {t.i64s("s", {10, 6})}, 1, {{"value", Attribute::Tensor(tensor<int32_t>({1}, {-7}))}});
    auto out = t.run();
    EXPECT_EQ(values<int32_t>(*out[0]), std::vector<int32_t>(60, -7));
  }
  {
    Case t;  // zero-size and scalar outputs
    t.node("ConstantOfShape", {t.i64s("s", {0})}, 1, {{"value", Attribute::Tensor(tensor<int64_t>({1}, {5}))}});
    t.run();
    EXPECT_EQ(t.out_shape(), (Shape{0}));
    Case t2;
    t2.node("ConstantOfShape", {t2.i64s("s", {})}, 1, {{"value", Attribute::Tensor(tensor<bool>({1}, {true}))}});
    auto o2 = t2.run();
    EXPECT_EQ(t2.out_shape(), Shape{});
    EXPECT_EQ(values<bool>(*o2[0]), std::vector<bool>{true});
  }
  Case t;
  t.node("ConstantOfShape", {t.i64s("s", {2})}, 1, {{"value", Attribute::Tensor(tensor<float>({2}, {1, 2}))}});
  EXPECT_COMPILE_ERROR(t.infer(), "exactly one element");
}

TEST(TensorOps, Range) {
  {
    Case t;  // spec example: float 3, 9, 3 -> [3, 6]
    t.node("Range", {t.constant("s", tensor<float>({}, {3})), t.constant("l", tensor<float>({}, {9})),
                     t.constant("d", tensor<float>({}, {3}))},
           1);
    auto out = t.run();
    EXPECT_EQ(values<float>(*out[0]), (std::vector<float>{3, 6}));
  }
  {
    Case t;  // spec example: int32 10, 4, -3 -> [10, 7]
    t.node("Range", {t.constant("s", tensor<int32_t>({}, {10})), t.constant("l", tensor<int32_t>({}, {4})),
                     t.constant("d", tensor<int32_t>({}, {-3}))},
           1);
    auto out = t.run();
    EXPECT_EQ(values<int32_t>(*out[0]), (std::vector<int32_t>{10, 7}));
  }
  {
    Case t;  // fractional delta
    t.node("Range", {t.constant("s", tensor<float>({}, {0})), t.constant("l", tensor<float>({}, {1})),
                     t.constant("d", tensor<float>({}, {0.3f}))},
           1);
    auto out = t.run();
    auto y = values<float>(*out[0]);
    ASSERT_EQ(y.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], 0.3f * static_cast<float>(i));
  }
  {
    Case t;  // empty
    t.node("Range", {t.constant("s", tensor<int64_t>({}, {5})), t.constant("l", tensor<int64_t>({}, {1})),
                     t.constant("d", tensor<int64_t>({}, {2}))},
           1);
    t.run();
    EXPECT_EQ(t.out_shape(), (Shape{0}));
  }
  Case t;
  t.node("Range", {t.constant("s", tensor<int64_t>({}, {5})), t.constant("l", tensor<int64_t>({}, {1})),
                   t.constant("d", tensor<int64_t>({}, {0}))},
         1);
  EXPECT_COMPILE_ERROR(t.infer(), "delta is 0");
  Case t2;
  t2.node("Range", {t2.data("s", tensor<int64_t>({}, {5})), t2.constant("l", tensor<int64_t>({}, {1})),
                    t2.constant("d", tensor<int64_t>({}, {1}))},
          1);
  EXPECT_COMPILE_ERROR(t2.infer(), "compile-time constant");
}

TEST(TensorOps, CastConversions) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  {
    Case t;  // float -> int8: truncation toward zero, saturation, NaN -> 0
    t.node("Cast", {t.data("x", tensor<float>({7}, {1.9f, -1.9f, 127.5f, 300.0f, -1e9f, nan, -0.5f}))}, 1,
           {{"to", Attribute::Int(3)}});
    auto out = t.run();
    EXPECT_EQ(values<int8_t>(*out[0]), (std::vector<int8_t>{1, -1, 127, 127, -128, 0, 0}));
  }
  {
    Case t;  // float -> bool: x != 0
    t.node("Cast", {t.data("x", tensor<float>({4}, {0.0f, -0.0f, 0.1f, nan}))}, 1, {{"to", Attribute::Int(9)}});
    auto out = t.run();
    EXPECT_EQ(values<bool>(*out[0]), (std::vector<bool>{false, false, true, true}));
  }
  {
    Case t;  // int32 -> uint8 wraps
    t.node("Cast", {t.data("x", tensor<int32_t>({3}, {300, -1, 7}))}, 1, {{"to", Attribute::Int(2)}});
    auto out = t.run();
    EXPECT_EQ(values<uint8_t>(*out[0]), (std::vector<uint8_t>{44, 255, 7}));
  }
  {
    Case t;  // bool -> float, double -> float, int64 -> double, float -> uint64
    t.node("Cast", {t.data("x", tensor<bool>({2}, {true, false}))}, 1, {{"to", Attribute::Int(1)}});
    EXPECT_EQ(values<float>(*t.run()[0]), (std::vector<float>{1, 0}));
    Case t2;
    t2.node("Cast", {t2.data("x", tensor<double>({2}, {0.1, -2.5e300}))}, 1, {{"to", Attribute::Int(1)}});
    auto y2 = values<float>(*t2.run()[0]);
    EXPECT_EQ(y2[0], 0.1f);
    EXPECT_EQ(y2[1], -INFINITY);
    Case t3;
    t3.node("Cast", {t3.data("x", tensor<int64_t>({1}, {-(int64_t(1) << 53)}))}, 1, {{"to", Attribute::Int(11)}});
    EXPECT_EQ(values<double>(*t3.run()[0]), (std::vector<double>{-9007199254740992.0}));
    Case t4;
    t4.node("Cast", {t4.data("x", tensor<float>({3}, {-5.0f, 1e20f, 3.7f}))}, 1, {{"to", Attribute::Int(13)}});
    EXPECT_EQ(values<uint64_t>(*t4.run()[0]),
              (std::vector<uint64_t>{0, std::numeric_limits<uint64_t>::max(), 3}));
  }
  {
    Case t;  // Cast-1: string `to`
    t.node("Cast", {t.data("x", tensor<float>({1}, {2.5f}))}, 1, {{"to", Attribute::String("INT32")}}, 1);
    EXPECT_EQ(values<int32_t>(*t.run()[0]), (std::vector<int32_t>{2}));
  }
}

TEST(TensorOps, CastUnsupportedTypes) {
  for (int32_t to : {10 /*FLOAT16*/, 16 /*BFLOAT16*/, 17 /*FLOAT8E4M3FN*/, 8 /*STRING*/}) {
    Case t;
    t.node("Cast", {t.data("x", tensor<float>({1}, {1}))}, 1, {{"to", Attribute::Int(to)}});
    EXPECT_COMPILE_ERROR(t.infer(), "is not supported");
  }
  Case t;
  Value* x = t.g.add_value("x", DType::F16, {2});
  t.node("Cast", {x}, 1, {{"to", Attribute::Int(1)}});
  EXPECT_COMPILE_ERROR(t.infer(), "cast from f16");
}

TEST(TensorOps, CastLike) {
  Case t;
  t.node("CastLike", {t.data("x", tensor<float>({3}, {1.5f, -2.5f, 0})), t.data("l", tensor<int64_t>({1}, {0}))}, 1);
  auto out = t.run();
  EXPECT_EQ(t.n->outputs[0]->dtype, DType::I64);
  EXPECT_EQ(values<int64_t>(*out[0]), (std::vector<int64_t>{1, -2, 0}));
}

// ============================== lowering details ======================================
TEST(TensorOps, ViewsLowerToByteCopy) {
  Case t;
  t.node("Flatten", {t.data("x", tensor<float>({2, 3}, iota_f(6)))}, 1);
  t.infer();
  KernelCall c = t.n->def->lower(*t.n);
  EXPECT_EQ(c.callee, "tinyodlc::ref::copy_bytes");
  ASSERT_EQ(c.args.size(), 3u);
  EXPECT_EQ(c.args[2].literal, "24");
}

TEST(TensorOps, SplitUsesOutputArray) {
  Case t;
  t.node("Split", {t.data("x", tensor<float>({4}, iota_f(4)))}, 2);
  t.infer();
  KernelCall c = t.n->def->lower(*t.n);
  ASSERT_GE(c.args.size(), 2u);
  EXPECT_EQ(c.args[1].kind, KernelArg::Kind::OutputArray);
  EXPECT_EQ(c.args[1].indices, (std::vector<int>{0, 1}));
}
