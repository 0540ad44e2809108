// stream-split: cuts a multi-frame model (StreamTinyNet: frames [1, T, C, H, W] -> logits)
// into a per-frame backbone g (one frame -> feature map) and a temporal head h (the T feature
// maps, oldest first -> outputs), so that the generated code runs g once per new frame, keeps
// its features in a ring and runs h on the ring (docs/streaming.md).
//
// The pass proves that g applies the same computation with the same weights to every frame and
// that only h mixes frames. It recognises how PyTorch exports this:
//  - batched: Reshape [1, T, ...] -> [T, ...], per-sample ops (Conv, pools, norms, activations,
//    Gemm/MatMul rows, ...), then ops that mix frames (Reshape back, Transpose, grouped
//    temporal Conv, ...);
//  - unrolled: T selections of frame t (Gather / Slice / Split along the time axis), T copies
//    of g reading the same weights, then a Concat of the T features in order.
// It also accepts the int8 forms of both (QuantizeLinear, tinyodlc.Q* ops), so an int8 model
// calibrated on whole clips splits into int8 g and h whose results are byte-identical.
//
// The graph the pass runs on becomes h: its inputs are the ring (the feature value, with T along
// its time axis, every dim before it 1, so the T slots laid end to end are exactly that tensor)
// followed by nothing else; g goes to StreamContext::frame_graph. A model that is not separable
// gets a CompileError naming the node that mixes frames (or the first node where frame t's
// branch differs from frame 0's).
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"

namespace tinyodlc::passes {

struct StreamContext {
  // Options: the streamed graph input ("" = the only input of rank 5) and its time axis.
  std::string input;
  int axis = 1;
  // Results.
  std::unique_ptr<ir::Graph> frame_graph;  // g: one frame -> features
  int frames = 0;                          // T
  std::string form;                        // "batched" or "unrolled"
  ir::Shape frame_shape;                   // g's input: the streamed input with time extent 1
  ir::Shape feature_shape;                 // g's output (one ring slot)
  std::string feature;                     // name of the feature value (g's output, h's input)
};

// Splits `g` (which becomes h) and stores the per-frame graph in ctx.frame_graph.
void stream_split(ir::Graph& g, StreamContext& ctx);

}  // namespace tinyodlc::passes
