// ONNX -> IR import.
//
// Reads an ONNX ModelProto (protobuf only: no onnx::checker, newer IR/opset versions are
// accepted) and builds an ir::Graph:
//   - graph inputs = graph.input entries that are not initializers, with static shapes
//     (symbolic dimensions are fixed with ImportOptions::dims, i.e. --dim NAME=VALUE);
//   - initializers and Constant nodes become constant values;
//   - every other node becomes an ir::Node (unknown ops are kept with def == nullptr; see
//     unsupported_ops()), with node.opset set from the model's opset_import, and the op's
//     canonicalize_import hook applied;
//   - graph outputs carry their declared dtype (and shape, when fully known);
//   - the node list is topologically sorted.
// Anything malformed or unsupported throws ir::CompileError naming the file, node or tensor.
// See docs/frontend.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frontend/tensor_proto.h"
#include "ir/graph.h"

namespace onnx {
class ModelProto;
}

namespace tinyodlc::frontend {

struct ImportOptions {
  std::map<std::string, int64_t> dims;  // --dim NAME=VALUE: values of symbolic dimensions
};

std::unique_ptr<ir::Graph> import_onnx_file(const std::string& path, const ImportOptions& opts = {});
std::unique_ptr<ir::Graph> import_onnx_model(const onnx::ModelProto& m, const ImportOptions& opts = {});

// One entry per node whose op has no OpDef, in schedule order:
// "node 'n' (Op, domain ai.onnx)".
std::vector<std::string> unsupported_ops(const ir::Graph& g);

}  // namespace tinyodlc::frontend
