#include "ir/dtype.h"

#include <stdexcept>

namespace tinyodlc::ir {

namespace {
struct Info {
  DType t;
  const char* name;
  const char* ctype;
  int32_t onnx;
  size_t size;
};
// ONNX TensorProto.DataType numbers.
constexpr Info kInfo[] = {
    {DType::F32, "f32", "float", 1, 4},     {DType::U8, "u8", "uint8_t", 2, 1},
    {DType::I8, "i8", "int8_t", 3, 1},      {DType::U16, "u16", "uint16_t", 4, 2},
    {DType::I16, "i16", "int16_t", 5, 2},   {DType::I32, "i32", "int32_t", 6, 4},
    {DType::I64, "i64", "int64_t", 7, 8},   {DType::Bool, "bool", "bool", 9, 1},
    {DType::F16, "f16", "uint16_t", 10, 2}, {DType::F64, "f64", "double", 11, 8},
    {DType::U32, "u32", "uint32_t", 12, 4}, {DType::U64, "u64", "uint64_t", 13, 8},
};
const Info* find(DType t) {
  for (const auto& i : kInfo)
    if (i.t == t) return &i;
  return nullptr;
}
}  // namespace

size_t dtype_size(DType t) {
  const Info* i = find(t);
  return i ? i->size : 0;
}
std::string_view dtype_name(DType t) {
  const Info* i = find(t);
  return i ? i->name : "undef";
}
DType dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (name == i.name) return i.t;
  return DType::Undefined;
}
std::string_view dtype_ctype(DType t) {
  const Info* i = find(t);
  return i ? i->ctype : "void";
}
DType dtype_from_onnx(int32_t onnx_type) {
  for (const auto& i : kInfo)
    if (i.onnx == onnx_type) return i.t;
  return DType::Undefined;
}
int32_t dtype_to_onnx(DType t) {
  const Info* i = find(t);
  return i ? i->onnx : 0;
}
std::string onnx_type_name(int32_t t) {
  static const char* names[] = {"UNDEFINED", "FLOAT",        "UINT8",          "INT8",       "UINT16",
                                "INT16",     "INT32",        "INT64",          "STRING",     "BOOL",
                                "FLOAT16",   "DOUBLE",       "UINT32",         "UINT64",     "COMPLEX64",
                                "COMPLEX128", "BFLOAT16",    "FLOAT8E4M3FN",   "FLOAT8E4M3FNUZ",
                                "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",       "INT4",       "FLOAT4E2M1",
                                "FLOAT8E8M0", "UINT2",       "INT2"};
  if (t >= 0 && t < static_cast<int32_t>(sizeof(names) / sizeof(names[0]))) return names[t];
  return "type#" + std::to_string(t);
}

bool dtype_is_float(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16; }
bool dtype_is_integer(DType t) {
  switch (t) {
    case DType::I8: case DType::U8: case DType::I16: case DType::U16:
    case DType::I32: case DType::U32: case DType::I64: case DType::U64: return true;
    default: return false;
  }
}

void throw_unsupported_dtype(DType t) {
  throw std::invalid_argument("unsupported element type " + std::string(dtype_name(t)));
}

}  // namespace tinyodlc::ir
