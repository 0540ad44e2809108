#include <gtest/gtest.h>

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
