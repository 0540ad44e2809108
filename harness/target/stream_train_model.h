// The streaming build with a trainable head (learning on the ring, docs/streaming.md) as the
// training harness (train_harness.cpp) sees a model: one sample is one clip of kStreamFrames
// frames. invoke_generic() and accumulate_generic() reset the stream, push the clip's frames
// (push_frame: the backbone once per frame) and run the head, or the head's training step, on
// the ring; the parameters, gradients and batch are the head's.
//
// Included by the generated tinyodlc_target_model.h after it defined the aliases
// tinyodlc_stream (the glue), tinyodlc_head, the frame type tinyodlc_frame_t and the label type
// tinyodlc_label_t.
#ifndef TINYODLC_STREAM_TRAIN_MODEL_H
#define TINYODLC_STREAM_TRAIN_MODEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

namespace tinyodlc_model {

namespace s = tinyodlc_stream;
namespace h = tinyodlc_head;

struct ClipInfo {
  size_t bytes;
};
constexpr int kNumInputs = 1;
constexpr ClipInfo kInputs[1] = {{s::kFrameBytes * static_cast<size_t>(s::kStreamFrames)}};
constexpr int kNumOutputs = s::kNumOutputs;
constexpr const h::TensorInfo* kOutputs = h::kOutputs;
constexpr size_t kLabelBytes = s::kLabelBytes;
constexpr size_t kTrainableCount = h::kTrainableCount;
constexpr int kBatch = h::kBatch;

// The clip's frames into the ring; 0 on success.
inline int push_clip(const void* clip) {
  s::reset_stream();
  const tinyodlc_frame_t* f = static_cast<const tinyodlc_frame_t*>(clip);
  constexpr size_t kElems = s::kFrameBytes / sizeof(tinyodlc_frame_t);
  for (int t = 0; t < s::kStreamFrames; ++t)
    if (s::push_frame(f + static_cast<size_t>(t) * kElems) < 0) return -1;
  return 0;
}
inline int invoke_generic(const void* const* inputs, void* const* outputs) {
  return push_clip(inputs[0]) != 0 ? -1 : s::infer_generic(outputs);
}
inline float accumulate_generic(const void* const* inputs) {
  if (push_clip(inputs[0]) != 0) return NAN;
  return s::accumulate(static_cast<const tinyodlc_label_t*>(inputs[1]));
}
inline int apply_update() { return s::apply_update(); }
inline int accumulated_samples() { return h::accumulated_samples(); }
inline const float* gradient_data() { return h::gradient_data(); }
inline float* trainable_data() { return h::trainable_data(); }

}  // namespace tinyodlc_model

#endif
