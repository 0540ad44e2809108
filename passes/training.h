// Options of on-device learning (docs/training.md): what trains, with which loss. Read by the
// passes `select-trainable` (passes/trainable.cpp) and `autodiff` (passes/autodiff.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace tinyodlc::passes {

struct TrainingOptions {
  // Selection (combinable; the union is trained).
  std::vector<std::string> trainable;  // initializer names: exact, or a regex that must match the whole name;
                                       // the words "biases" and "norms" select all biases / norm affine parameters
  int trainable_last = 0;              // the last N parametric layers (Conv/ConvTranspose/Gemm/MatMul, with the
                                       // normalization layers between them)
  std::string train_input;             // train only the part fed by this tensor (it becomes the graph input)

  // Loss.
  std::string loss = "cross-entropy";  // cross-entropy | mse | cosine-prototype
  std::string loss_output;             // graph output the loss is computed on (default: the only output)
  int append_head = 0;                 // append a linear classifier with this many classes to the loss output
  std::shared_ptr<const ir::TensorData> prototypes;  // cosine-prototype: [classes, dim]
  float scale = 10.0f;                 // cosine-prototype: logits = scale * cos(embedding, prototype)

  // Saved activations (passes/recompute.cpp): "auto" compiles the training step both ways and
  // keeps recomputation if it lowers the training arena; "always" / "never" force the choice.
  std::string recompute = "auto";
  size_t recompute_min_bytes = 16384;  // activations at least this large are recomputed

  bool enabled() const { return !trainable.empty() || trainable_last > 0 || !train_input.empty() || append_head > 0; }
};

// Names of the graph inputs the training step adds.
inline constexpr const char* kLabelInput = "label";    // int64 [rows] (cross-entropy, cosine-prototype)
inline constexpr const char* kTargetInput = "target";  // the prediction's type (mse)
inline constexpr const char* kLossOutput = "loss";     // rank-0 float

// The trainable parameters of a graph after select-trainable, in a deterministic order (their
// order in the blob of the generated code: by first use in the schedule).
std::vector<ir::Value*> trainable_params(const ir::Graph& g);

// The input of the trainable part of g (after select-trainable): the one non-constant tensor
// that the nodes depending on a trainable parameter read from the frozen part. Empty when
// there is no such single tensor, or when it is a graph input (then nothing is gained by
// caching it); *why then says which case (for --al-store features).
std::string trainable_part_input(const ir::Graph& g, std::string* why);

// Cuts g at tensor `name` as --train-input does: it becomes the only graph input and what only
// computed it is removed. Throws (CompileError via fail()) when it cannot.
void cut_graph_at(ir::Graph& g, const std::string& name);

}  // namespace tinyodlc::passes
