// stream-split on the zoo's StreamTinyNet exports: running g once per frame and h on the
// stacked features gives exactly the full model's result (float: bit for bit, since each frame
// goes through the same reference kernels; int8: byte for byte, g and h being cut from the
// model quantized on whole clips). Reference: the reference interpreter on the full model.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "frontend/onnx_import.h"
#include "ir/interpreter.h"
#include "passes/pass_manager.h"
#include "passes/quantize.h"
#include "passes/stream_split.h"

using namespace tinyodlc;
using ir::TensorData;

namespace {

const std::string kZoo = std::string(TINYODLC_SOURCE_DIR) + "/examples/models/streamtinynet/";

void run_passes(ir::Graph& g, const std::vector<std::string>& names, passes::PassContext& ctx) {
  passes::PassManager pm;
  for (const auto& n : names) pm.add(n);
  pm.run(g, ctx);
}

TensorData random_clip(const ir::Value* x, uint32_t seed) {
  TensorData t(x->dtype, x->shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// h(stack of g(frame t), oldest first) on one clip.
TensorData streamed(const ir::Graph& g, const ir::Graph& h, const TensorData& clip, int frames) {
  const size_t frame_bytes = clip.bytes.size() / static_cast<size_t>(frames);
  TensorData ring(h.inputs[0]->dtype, h.inputs[0]->shape);
  size_t slot = 0;
  for (int t = 0; t < frames; ++t) {
    TensorData frame(g.inputs[0]->dtype, g.inputs[0]->shape);
    EXPECT_EQ(frame.bytes.size(), frame_bytes);
    std::memcpy(frame.bytes.data(), clip.bytes.data() + t * frame_bytes, frame_bytes);
    std::vector<TensorData> f = ir::interpret(g, {frame});
    slot = f[0].bytes.size();
    std::memcpy(ring.bytes.data() + t * slot, f[0].bytes.data(), slot);
  }
  EXPECT_EQ(slot * static_cast<size_t>(frames), ring.bytes.size());
  return ir::interpret(h, {ring})[0];
}

void check_model(const std::string& dir, bool fold_bn, bool int8) {
  SCOPED_TRACE(dir + (fold_bn ? "" : " (BatchNormalization kept)") + (int8 ? " int8" : " float"));
  std::unique_ptr<ir::Graph> full = frontend::import_onnx_file(kZoo + dir + "/" + dir + ".onnx");
  passes::PassContext ctx;
  run_passes(*full, fold_bn ? std::vector<std::string>{"shape-inference", "canonicalize", "dce", "shape-inference"}
                            : std::vector<std::string>{"shape-inference", "dce"},
             ctx);
  const TensorData clip = random_clip(full->inputs[0], 7);
  if (int8) {
    passes::QuantContext q;
    for (uint32_t s = 1; s <= 3; ++s) q.calibration_sets.push_back({random_clip(full->inputs[0], s)});
    q.drop_pairs = true;
    ctx.quant = &q;
    run_passes(*full, {"calibrate", "insert-qdq", "qdq-fold", "dce", "shape-inference"}, ctx);
    ctx.quant = nullptr;
  }
  const TensorData expected = ir::interpret(*full, {clip})[0];
  std::unique_ptr<ir::Graph> h = ir::clone_graph(*full);
  passes::StreamContext sc;
  passes::stream_split(*h, sc);
  ASSERT_TRUE(sc.frame_graph);
  EXPECT_EQ(sc.form, "batched");
  EXPECT_EQ(sc.frames, full->inputs[0]->shape[1]);
  if (int8) {
    EXPECT_EQ(h->inputs[0]->dtype, ir::DType::I8) << "the ring holds int8 features";
  }
  const TensorData got = streamed(*sc.frame_graph, *h, clip, sc.frames);
  ASSERT_EQ(got.bytes.size(), expected.bytes.size());
  EXPECT_TRUE(got.bytes == expected.bytes) << "streamed result differs from the full model";
}

}  // namespace

TEST(StreamSplit, ZooFloatBitExact) {
  for (const char* m : {"stn_t4_gray64_op13", "stn_t4_gray64_op17", "stn_t8_rgb48_op13", "stn_t8_rgb48_op17"})
    check_model(m, true, false);
}

TEST(StreamSplit, ZooUnfusedBatchNorm) {
  for (const char* m : {"stn_t4_gray64_train_op13", "stn_t4_gray64_op17"}) check_model(m, false, false);
}

TEST(StreamSplit, ZooInt8ByteExact) {
  for (const char* m : {"stn_t4_gray64_op13", "stn_t8_rgb48_op17"}) check_model(m, true, true);
}
