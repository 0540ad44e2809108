#include "frontend/tensor_proto.h"

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include "support/checked.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1)

namespace tinyodlc::frontend {

using ir::CompileError;
using ir::DType;
using ir::TensorData;

namespace {

// Little-endian store of an unsigned integer.
template <typename U> void put_le(uint8_t* p, U v) {
  for (size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

std::string dims_str(const onnx::TensorProto& t) {
  std::string s = "[";
  for (int i = 0; i < t.dims_size(); ++i) s += (i ? "," : "") + std::to_string(t.dims(i));
  return s + "]";
}

// Name of the typed field ONNX uses for `type`.
const char* typed_field_name(int32_t type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: return "float_data";
    case onnx::TensorProto::DOUBLE: return "double_data";
    case onnx::TensorProto::INT64: return "int64_data";
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64: return "uint64_data";
    default: return "int32_data";
  }
}

// The number of values in each typed field, with its name, for "which field is set" checks.
struct FieldCount {
  const char* name;
  int count;
};

}  // namespace

TensorData tensor_from_proto(const onnx::TensorProto& t, const std::string& what) {
  auto error = [&](const std::string& msg) -> CompileError { return CompileError(what, msg); };

  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    std::string location;
    for (const auto& kv : t.external_data())
      if (kv.key() == "location") location = kv.value();
    throw error(fmt::format("the tensor's data is stored outside the model{} (ONNX external data), which is "
                            "not supported; re-save the model with all tensors inside the .onnx file",
                            location.empty() ? "" : fmt::format(" in '{}'", location)));
  }
  if (t.has_segment()) throw error("segmented tensors (TensorProto.segment) are not supported");

  const int32_t onnx_type = t.data_type();
  const DType dtype = ir::dtype_from_onnx(onnx_type);
  if (onnx_type == onnx::TensorProto::UNDEFINED) throw error("the tensor has no element type (data_type is UNDEFINED)");
  if (dtype == DType::Undefined)
    throw error(fmt::format("element type {} is not supported", ir::onnx_type_name(onnx_type)));

  // Validate the declared dims against the per-tensor bound and against the data actually
  // present BEFORE allocating anything: an 83-byte file may declare dims [2^38].
  ir::Shape shape;
  for (int i = 0; i < t.dims_size(); ++i) {
    int64_t d = t.dims(i);
    if (d < 0) throw error(fmt::format("dimension {} of dims {} is negative", i, dims_str(t)));
    shape.push_back(d);
  }
  const size_t esize = ir::dtype_size(dtype);
  const std::string type_desc = fmt::format("{}{}", ir::onnx_type_name(onnx_type), dims_str(t));
  const size_t nbytes = static_cast<size_t>(checked::tensor_bytes(shape, esize, what, "declared dims"));
  const int64_t numel = static_cast<int64_t>(nbytes / esize);

  const FieldCount fields[] = {
      {"float_data", t.float_data_size()},   {"double_data", t.double_data_size()},
      {"int32_data", t.int32_data_size()},   {"int64_data", t.int64_data_size()},
      {"uint64_data", t.uint64_data_size()}, {"string_data", t.string_data_size()},
  };

  if (t.has_raw_data()) {
    for (const auto& f : fields)
      if (f.count > 0)
        throw error(fmt::format("both raw_data and {} are set; a tensor must store its values in exactly one", f.name));
    const std::string& raw = t.raw_data();
    if (raw.size() != nbytes)
      throw error(fmt::format("raw_data has {} bytes but {} needs {} ({} elements of {} bytes)", raw.size(), type_desc,
                              nbytes, numel, esize));
    TensorData out(dtype, shape);
    if (nbytes) std::memcpy(out.bytes.data(), raw.data(), nbytes);  // both little-endian
    if (dtype == DType::Bool)
      for (auto& b : out.bytes) b = b ? 1 : 0;
    return out;
  }

  // Typed field: exactly the one ONNX defines for this element type may be set.
  const char* expected = typed_field_name(onnx_type);
  int count = 0;
  for (const auto& f : fields) {
    if (std::strcmp(f.name, expected) == 0) {
      count = f.count;
    } else if (f.count > 0) {
      throw error(fmt::format("values are stored in {} but a {} tensor stores them in {} (or raw_data)", f.name,
                              ir::onnx_type_name(onnx_type), expected));
    }
  }
  if (count == 0 && numel > 0)
    throw error(fmt::format("has no values (neither raw_data nor {} is set) but {} needs {} elements", expected,
                            type_desc, numel));
  if (count != numel)
    throw error(fmt::format("{} has {} elements but {} needs {}", expected, count, type_desc, numel));

  TensorData out(dtype, shape);
  uint8_t* p = out.bytes.data();
  auto range_check = [&](int64_t v, int64_t lo, int64_t hi, int i) {
    if (v < lo || v > hi)
      throw error(fmt::format("{}[{}] = {} is out of range for element type {}", expected, i, v,
                              ir::onnx_type_name(onnx_type)));
  };
  for (int i = 0; i < count; ++i) {
    switch (dtype) {
      case DType::F32: {
        uint32_t bits;
        float v = t.float_data(i);
        std::memcpy(&bits, &v, 4);
        put_le(p + 4 * i, bits);
        break;
      }
      case DType::F64: {
        uint64_t bits;
        double v = t.double_data(i);
        std::memcpy(&bits, &v, 8);
        put_le(p + 8 * i, bits);
        break;
      }
      case DType::I64: put_le(p + 8 * i, static_cast<uint64_t>(t.int64_data(i))); break;
      case DType::U64: put_le(p + 8 * i, t.uint64_data(i)); break;
      case DType::U32: {
        uint64_t v = t.uint64_data(i);
        if (v > 0xFFFFFFFFu)
          throw error(fmt::format("uint64_data[{}] = {} is out of range for element type UINT32", i, v));
        put_le(p + 4 * i, static_cast<uint32_t>(v));
        break;
      }
      case DType::I32: put_le(p + 4 * i, static_cast<uint32_t>(t.int32_data(i))); break;
      case DType::I16:
        range_check(t.int32_data(i), INT16_MIN, INT16_MAX, i);
        put_le(p + 2 * i, static_cast<uint16_t>(t.int32_data(i)));
        break;
      case DType::U16:
        range_check(t.int32_data(i), 0, UINT16_MAX, i);
        put_le(p + 2 * i, static_cast<uint16_t>(t.int32_data(i)));
        break;
      case DType::F16:
        // The bit pattern in the low 16 bits; some writers sign-extend it.
        range_check(t.int32_data(i), INT16_MIN, UINT16_MAX, i);
        put_le(p + 2 * i, static_cast<uint16_t>(t.int32_data(i)));
        break;
      case DType::I8:
        range_check(t.int32_data(i), INT8_MIN, INT8_MAX, i);
        p[i] = static_cast<uint8_t>(t.int32_data(i));
        break;
      case DType::U8:
        range_check(t.int32_data(i), 0, UINT8_MAX, i);
        p[i] = static_cast<uint8_t>(t.int32_data(i));
        break;
      case DType::Bool:
        range_check(t.int32_data(i), 0, 1, i);
        p[i] = static_cast<uint8_t>(t.int32_data(i));
        break;
      default: throw error(fmt::format("element type {} is not supported", ir::onnx_type_name(onnx_type)));
    }
  }
  return out;
}

onnx::TensorProto tensor_to_proto(const TensorData& t, const std::string& name) {
  const std::string what = fmt::format("tensor '{}'", name);
  if (t.dtype == DType::Undefined) throw CompileError(what, "cannot serialize a tensor without element type");
  for (int64_t d : t.shape)
    if (d < 0) throw CompileError(what, fmt::format("cannot serialize shape {}", ir::shape_str(t.shape)));
  const size_t nbytes = static_cast<size_t>(t.numel()) * ir::dtype_size(t.dtype);
  if (t.bytes.size() != nbytes)
    throw CompileError(what, fmt::format("holds {} bytes but {}{} needs {}", t.bytes.size(), ir::dtype_name(t.dtype),
                                         ir::shape_str(t.shape), nbytes));
  onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(ir::dtype_to_onnx(t.dtype));
  for (int64_t d : t.shape) p.add_dims(d);
  p.set_raw_data(t.bytes.data(), t.bytes.size());
  return p;
}

void parse_proto_file(const std::string& path, const char* kind, google::protobuf::MessageLite& msg) {
  namespace fs = std::filesystem;
  const std::string where = fmt::format("file '{}'", path);
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw CompileError(where, "not found");
  if (fs::is_directory(st)) throw CompileError(where, fmt::format("is a directory, not {}", kind));
  uintmax_t size = fs::file_size(path, ec);
  if (ec) throw CompileError(where, fmt::format("cannot read: {}", ec.message()));
  if (size == 0) throw CompileError(where, fmt::format("is empty (expected {})", kind));
  if (size > static_cast<uintmax_t>(INT_MAX))
    throw CompileError(where, fmt::format("is {} bytes, larger than protobuf's 2 GB limit; models this large must use "
                                          "external data, which is not supported",
                                          size));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CompileError(where, "cannot be opened for reading");
  google::protobuf::io::IstreamInputStream zin(&f);
  google::protobuf::io::CodedInputStream cin(&zin);
  cin.SetTotalBytesLimit(INT_MAX);  // default limits were 64 MB in older protobuf versions
  bool ok = msg.ParseFromCodedStream(&cin) && cin.ConsumedEntireMessage();
  if (f.bad()) throw CompileError(where, "read error");
  if (!ok)
    throw CompileError(where, fmt::format("is not {}: protobuf parsing failed (the file is truncated, corrupt, or of "
                                          "another format)",
                                          kind));
}

std::pair<std::string, TensorData> load_tensor_pb(const std::string& path) {
  onnx::TensorProto t;
  parse_proto_file(path, "a serialized TensorProto", t);
  std::string what = t.name().empty() ? fmt::format("tensor in file '{}'", path)
                                      : fmt::format("tensor '{}' in file '{}'", t.name(), path);
  TensorData d = tensor_from_proto(t, what);
  return {t.name(), std::move(d)};
}

void save_tensor_pb(const std::string& path, const std::string& name, const TensorData& t) {
  onnx::TensorProto p = tensor_to_proto(t, name);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw CompileError(fmt::format("file '{}'", path), "cannot be opened for writing");
  if (!p.SerializeToOstream(&f) || !f.flush())
    throw CompileError(fmt::format("file '{}'", path), "write error");
}

}  // namespace tinyodlc::frontend
