// Robustness of the compiler itself (issue 19, docs/robustness.md): checked size arithmetic,
// validation before allocation, defined integer semantics of the reference kernels (used for
// constant folding and in generated code). Expected integer results are numpy's (computed
// with numpy 1.24: int64 arithmetic wraps modulo 2^64; see the comments).
#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "compiler/driver.h"
#include "frontend/onnx_import.h"
#include "frontend/tensor_proto.h"
#include "ir/op_registry.h"
#include "onnx/onnx_pb.h"
#include "support/checked.h"
#include "tinyodlc/ref/elementwise.h"
#include "tinyodlc/ref/reduce.h"

namespace tinyodlc {
namespace {

const std::string kReg = std::string(TINYODLC_SOURCE_DIR) + "/tests/fuzz/regression/";

template <typename T, typename Op>
T bin(T a, T b) {
  T y;
  ref::binary_flat<T, T, Op>(&a, &b, &y, 1, 1, 1);
  return y;
}
template <typename T, typename Op>
T un(T a) {
  T y;
  ref::unary<T, T, Op>(&a, &y, 1, 0.0f, 0.0f);
  return y;
}

// --- kernels: numpy semantics, no trap, no UB (the UBSan build checks the latter) ---------
TEST(RobustKernels, DivIntMinByMinusOneWraps) {
  // numpy: np.int32(-2**31) // -1 == -2147483648 (and the same for int64)
  EXPECT_EQ((bin<int32_t, ref::DivOp>(INT32_MIN, -1)), INT32_MIN);
  EXPECT_EQ((bin<int64_t, ref::DivOp>(INT64_MIN, -1)), INT64_MIN);
  EXPECT_EQ((bin<int32_t, ref::DivOp>(7, 0)), 0);  // undefined in ONNX: 0, never a trap
  EXPECT_EQ((bin<int32_t, ref::DivOp>(-7, 2)), -3);  // truncation
  EXPECT_EQ((bin<int8_t, ref::DivOp>(INT8_MIN, -1)), INT8_MIN);
}
TEST(RobustKernels, Int64MulAddSubWrap) {
  // numpy: [2**63-1, 2**62] * [2, 4] == [-2, 0]; (2**63-1) + 1 == -2**63
  EXPECT_EQ((bin<int64_t, ref::MulOp>(INT64_MAX, 2)), -2);
  EXPECT_EQ((bin<int64_t, ref::MulOp>(int64_t{1} << 62, 4)), 0);
  EXPECT_EQ((bin<int64_t, ref::AddOp>(INT64_MAX, 1)), INT64_MIN);
  EXPECT_EQ((bin<int64_t, ref::SubOp>(INT64_MIN, 1)), INT64_MAX);
  EXPECT_EQ((bin<int32_t, ref::MulOp>(INT32_MAX, INT32_MAX)), 1);
  EXPECT_EQ((bin<uint16_t, ref::MulOp>(65535, 65535)), 1);  // would overflow int after promotion
}
TEST(RobustKernels, NegAbsOfMinWrap) {
  // numpy: -np.int64(-2**63) == -2**63, np.abs(np.int64(-2**63)) == -2**63, same for int32
  EXPECT_EQ((un<int64_t, ref::NegOp>(INT64_MIN)), INT64_MIN);
  EXPECT_EQ((un<int64_t, ref::AbsOp>(INT64_MIN)), INT64_MIN);
  EXPECT_EQ((un<int32_t, ref::AbsOp>(INT32_MIN)), INT32_MIN);
  EXPECT_EQ((un<int64_t, ref::AbsOp>(-5)), 5);
  EXPECT_EQ((un<float, ref::NegOp>(2.5f)), -2.5f);
  EXPECT_EQ(ref::detail::abs_of<int64_t>(INT64_MIN), INT64_MIN);  // ReduceL1
}

// --- constant folding in the compiler runs the same kernels -----------------------------
std::vector<int64_t> folded_output(const std::string& file) {
  CompileOptions o;
  o.model = kReg + file;
  auto g = import_and_optimize(o);
  EXPECT_TRUE(g->outputs.at(0)->is_constant()) << file;
  return g->outputs.at(0)->constant->to_i64();
}
TEST(RobustFolding, IntegerDivMulNegAbs) {
  EXPECT_EQ(folded_output("div_int32_min_by_minus1.onnx"), (std::vector<int64_t>{INT32_MIN, 0}));
  EXPECT_EQ(folded_output("div_int64_min_by_minus1.onnx"), (std::vector<int64_t>{INT64_MIN, 0}));
  EXPECT_EQ(folded_output("mul_int64_overflow.onnx"), (std::vector<int64_t>{-2, 0}));
  EXPECT_EQ(folded_output("add_int64_overflow.onnx"), (std::vector<int64_t>{INT64_MIN}));
  EXPECT_EQ(folded_output("neg_int64_min.onnx"), (std::vector<int64_t>{INT64_MIN, -5}));
  EXPECT_EQ(folded_output("abs_int64_min.onnx"), (std::vector<int64_t>{INT64_MIN, 5}));
  EXPECT_EQ(folded_output("abs_int32_min.onnx"), (std::vector<int64_t>{INT32_MIN, 5}));
}

// --- validation before allocation ----------------------------------------------------------
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CompileError& e) {
    return e.what();
  }
  return "(no error)";
}
TEST(RobustFrontend, DeclaredDimsRefusedBeforeAllocation) {
  for (int64_t d : {int64_t{1} << 38, int64_t{1000000000}}) {
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(d);
    t.set_raw_data("");
    auto t0 = std::chrono::steady_clock::now();
    std::string e = error_of([&] { frontend::tensor_from_proto(t, "initializer 'w'"); });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(e.find("initializer 'w': declared dims"), std::string::npos) << e;
    EXPECT_NE(e.find("more than"), std::string::npos) << e;
    EXPECT_LT(s, 0.5);
  }
}
TEST(RobustFrontend, SizeTWrapRefused) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::DOUBLE);
  t.add_dims(int64_t{1} << 61);  // 2^61 * 8 bytes wraps size_t to 0
  t.add_dims(1);
  std::string e = error_of([&] { frontend::tensor_from_proto(t, "initializer 'w'"); });
  EXPECT_NE(e.find("more than 2147483647 elements"), std::string::npos) << e;
}
TEST(RobustFrontend, PbFilesRefusedBeforeAllocation) {
  std::string e = error_of([&] { frontend::load_tensor_pb(kReg + "input_dims_2p38.pb"); });
  EXPECT_NE(e.find("input_dims_2p38.pb"), std::string::npos) << e;
  EXPECT_NE(e.find("more than 2147483647 elements"), std::string::npos) << e;
  e = error_of([&] { frontend::load_tensor_pb(kReg + "input_dims_1e9.pb"); });
  EXPECT_NE(e.find("4000000000 bytes"), std::string::npos) << e;
}
TEST(RobustFrontend, OpsetsAndEmptyGraph) {
  EXPECT_NE(error_of([] { frontend::import_onnx_file(kReg + "opset_0.onnx"); }).find("version 0"), std::string::npos);
  EXPECT_NE(error_of([] { frontend::import_onnx_file(kReg + "opset_99.onnx"); }).find("version 99"),
            std::string::npos);
  EXPECT_NE(error_of([] { frontend::import_onnx_file(kReg + "empty_graph.onnx"); }).find("no outputs"),
            std::string::npos);
}

// --- shape inference: element counts >= 2^31, overflowing attributes, MACs ----------------
std::string compile_error(const std::string& file) {
  return error_of([&] {
    CompileOptions o;
    o.model = kReg + file;
    import_and_optimize(o);
  });
}
TEST(RobustShapes, PreciseErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"input_numel_2p31.onnx", "input 'x': shape [65536,32768] has more than 2147483647 elements"},
      {"input_dims_wrap.onnx", "has more than 2147483647 elements"},
      {"tile_overflow.onnx", "node 'Tile_0' (Tile): tiled size (input dimension * repeats) overflows"},
      {"tile_2p31.onnx", "output 'y' of shape [2147483648,3] has more than 2147483647 elements"},
      {"reshape_overflow.onnx", "(Reshape): element count of the target shape overflows"},
      {"pad_overflow.onnx", "(Pad): padded size (pads) overflows"},
      {"maxpool_dilation_overflow.onnx", "(MaxPool): window extent (kernel * attribute 'dilations') overflows"},
      {"maxpool_pads_overflow.onnx", "(MaxPool): padded input size (attribute 'pads') overflows"},
      {"conv_pads_overflow.onnx", "(Conv): padded input size (attribute 'pads') overflows"},
      {"conv_transpose_strides_overflow.onnx", "(ConvTranspose): output size (attribute 'strides') overflows"},
      {"conv_macs_large.onnx", "bytes, more than the limit of 2147483647 bytes per tensor"},
  };
  for (const auto& [file, msg] : cases) {
    std::string e = compile_error(file);
    EXPECT_NE(e.find(msg), std::string::npos) << file << ": " << e;
  }
}
TEST(RobustShapes, MacsNeverNegative) {
  // Every seed model of the fuzzer (tests/fuzz/seeds) that compiles reports MACs >= 0; MAC
  // counts are computed with checked arithmetic (an error, never a wrapped negative count).
  int compiled = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(TINYODLC_SOURCE_DIR) + "/tests/fuzz/seeds")) {
    CompileOptions o;
    o.model = f.path().string();
    std::unique_ptr<ir::Graph> g;
    try {
      g = import_and_optimize(o);
    } catch (const CompileError&) {
      continue;
    }
    ++compiled;
    for (const auto& n : g->nodes())
      if (n->def && n->def->macs) {
        EXPECT_GE(n->def->macs(*n), 0) << f.path();
      }
  }
  EXPECT_GT(compiled, 20);
}

// --- checked arithmetic ---------------------------------------------------------------------
TEST(RobustChecked, Helpers) {
  EXPECT_EQ(checked::mul<int64_t>(3, 4, "w", "x"), 12);
  EXPECT_THROW(checked::mul<int64_t>(INT64_MAX, 2, "w", "x"), CompileError);
  EXPECT_THROW(checked::add<int64_t>(INT64_MAX, 1, "w", "x"), CompileError);
  EXPECT_THROW(checked::sub<int64_t>(INT64_MIN, 1, "w", "x"), CompileError);
  EXPECT_THROW(checked::mul<size_t>(SIZE_MAX / 2, 3, "w", "x"), CompileError);
  EXPECT_EQ(checked::to_i32(INT32_MAX, "w", "x"), INT32_MAX);
  EXPECT_THROW(checked::to_i32(int64_t{INT32_MAX} + 1, "w", "x"), CompileError);
  EXPECT_EQ(checked::tensor_bytes(std::vector<int64_t>{2, 3}, 4, "w", "x"), 24);
  EXPECT_THROW(checked::tensor_bytes(std::vector<int64_t>{int64_t{1} << 31}, 1, "w", "x"), CompileError);
  EXPECT_THROW(checked::tensor_bytes(std::vector<int64_t>{int64_t{1} << 30}, 2, "w", "x"), CompileError);
  std::string e = error_of([] { checked::mul<int64_t>(INT64_MAX, 2, "node 'n' (Tile)", "attribute 'repeats'"); });
  EXPECT_EQ(e, "node 'n' (Tile): attribute 'repeats' overflows: 9223372036854775807 * 2 does not fit a signed "
               "64-bit integer");
}

}  // namespace
}  // namespace tinyodlc
