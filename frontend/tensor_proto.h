// ONNX TensorProto <-> ir::TensorData, and serialized tensor files (.pb, as used by the ONNX
// backend test data sets: input_0.pb, output_0.pb, ...).
#pragma once

#include <string>
#include <utility>

#include "ir/graph.h"

namespace onnx {
class TensorProto;
}
namespace google::protobuf {
class MessageLite;
}

namespace tinyodlc::frontend {

// Converts a TensorProto to dense little-endian data. Accepts raw_data and every typed
// field ONNX defines for the supported element types:
//   float_data (FLOAT), double_data (DOUBLE), int64_data (INT64),
//   int32_data (INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16 bit patterns),
//   uint64_data (UINT32, UINT64).
// `what` names the tensor in error messages ("initializer 'w'"); every error is an
// ir::CompileError whose where() is `what`: element count/size mismatches, negative dims,
// values out of range for the element type, external data, segments, unsupported element
// types (STRING, BFLOAT16, complex, float8, 4-bit, 2-bit, ...).
ir::TensorData tensor_from_proto(const onnx::TensorProto& t, const std::string& what);

// Dense data -> TensorProto (name, data_type, dims, raw_data).
onnx::TensorProto tensor_to_proto(const ir::TensorData& t, const std::string& name);

// Reads/writes one serialized TensorProto file. load returns (tensor name, data).
std::pair<std::string, ir::TensorData> load_tensor_pb(const std::string& path);
void save_tensor_pb(const std::string& path, const std::string& name, const ir::TensorData& t);

// Parses a serialized protobuf message from a file (any size up to protobuf's 2 GB limit).
// `kind` is used in messages ("an ONNX model", "a serialized TensorProto"). Throws a
// CompileError naming the file if it is missing, empty, unreadable or not parseable.
void parse_proto_file(const std::string& path, const char* kind, google::protobuf::MessageLite& msg);

}  // namespace tinyodlc::frontend
