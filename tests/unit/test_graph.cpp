#include <gtest/gtest.h>

#include <limits>

#include "ir/graph.h"
#include "ir/op_registry.h"

using namespace tinyodlc::ir;

TEST(Graph, TopoSortDetectsCycle) {
  Graph g;
  Value* a = g.add_value("a", DType::F32, {2});
  Value* b = g.add_value("b", DType::F32, {2});
  g.add_node("Relu", {b}, {a}, {}, "r1");
  g.add_node("Relu", {a}, {b}, {}, "r2");
  EXPECT_THROW(g.topo_sort(), CompileError);
}

TEST(Graph, EvaluateAddBroadcast) {
  Graph g;
  Value* a = g.add_value("a", DType::F32, {2, 3});
  Value* b = g.add_value("b", DType::F32, {3});
  Value* y = g.add_value("y");
  Node* n = g.add_node("Add", {a, b}, {y});
  ASSERT_NE(n->def, nullptr);
  n->def->infer(*n);
  EXPECT_EQ(y->shape, (Shape{2, 3}));
  TensorData ta(DType::F32, {2, 3}), tb(DType::F32, {3});
  for (int i = 0; i < 6; ++i) ta.data<float>()[i] = static_cast<float>(i);
  for (int i = 0; i < 3; ++i) tb.data<float>()[i] = 10.0f * static_cast<float>(i);
  auto out = evaluate_node(*n, {&ta, &tb});
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(out[0]->data<float>()[i], static_cast<float>(i) + 10.0f * static_cast<float>(i % 3));
}

TEST(Elementwise, IsInfAndIsNaNFollowTheAttributes) {
  const float inf = std::numeric_limits<float>::infinity();
  const float xs[4] = {1.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN()};
  for (int neg = 0; neg < 2; ++neg) {
    Graph g;
    Value* x = g.add_value("x", DType::F32, {4});
    Value* y = g.add_value("y");
    Value* z = g.add_value("z");
    Node* isinf = g.add_node("IsInf", {x}, {y}, {{"detect_negative", Attribute::Int(neg)}});
    Node* isnan = g.add_node("IsNaN", {x}, {z});
    isinf->def->infer(*isinf);
    isnan->def->infer(*isnan);
    EXPECT_EQ(y->dtype, DType::Bool);
    TensorData tx(DType::F32, {4});
    for (int i = 0; i < 4; ++i) tx.data<float>()[i] = xs[i];
    auto a = evaluate_node(*isinf, {&tx});
    auto b = evaluate_node(*isnan, {&tx});
    const bool want_inf[4] = {false, true, neg == 1, false};
    const bool want_nan[4] = {false, false, false, true};
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(a[0]->data<bool>()[i], want_inf[i]) << i;
      EXPECT_EQ(b[0]->data<bool>()[i], want_nan[i]) << i;
    }
  }
}
