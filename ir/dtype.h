// Element types of IR tensors and their mapping to ONNX and to C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <optional>
#include <type_traits>

namespace tinyodlc::ir {

enum class DType : uint8_t {
  Undefined,
  F32,
  F64,
  F16,
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  Bool,
};

// Size of one element in bytes (Bool is one byte, as in ONNX raw_data).
size_t dtype_size(DType t);
// Short textual name used by the IR printer/parser: f32, i64, bool, ...
std::string_view dtype_name(DType t);
// Parses a short name; returns Undefined if unknown.
DType dtype_from_name(std::string_view name);
// C++ element type used in generated code: float, int64_t, bool, ...
std::string_view dtype_ctype(DType t);
// ONNX TensorProto::DataType <-> DType. Unknown ONNX types map to Undefined.
DType dtype_from_onnx(int32_t onnx_type);
int32_t dtype_to_onnx(DType t);
// Human name of an ONNX element type number (also for types we do not support).
std::string onnx_type_name(int32_t onnx_type);

bool dtype_is_float(DType t);
bool dtype_is_integer(DType t);  // signed or unsigned integer, not Bool

// Compile-time mapping C++ type -> DType and back, for kernels and evaluation.
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::I8; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::U8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::I16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::U16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::U32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::I64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::U64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

template <typename T> struct TypeTag { using type = T; };

// Compile-time lists of element types an op accepts. `dispatch(List{}, t, f)` calls
// f(TypeTag<T>{}) for the C++ type T of `t` (instantiating f only for the listed types) and
// throws std::invalid_argument if `t` is not in the list.
template <typename... Ts> struct TypeList {};
using FloatTypes = TypeList<float, double>;
using IntTypes = TypeList<int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using SignedIntTypes = TypeList<int8_t, int16_t, int32_t, int64_t>;
using NumericTypes = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t>;
using SignedTypes = TypeList<float, double, int8_t, int16_t, int32_t, int64_t>;
using AllTypes = TypeList<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t, bool>;
using BoolType = TypeList<bool>;
using F32Type = TypeList<float>;

constexpr uint32_t dtype_bit(DType t) { return 1u << static_cast<unsigned>(t); }
template <typename... Ts> constexpr uint32_t type_mask(TypeList<Ts...>) { return (0u | ... | dtype_bit(DTypeOf<Ts>::value)); }

[[noreturn]] void throw_unsupported_dtype(DType t);

template <typename T0, typename... Ts, typename F>
auto dispatch(TypeList<T0, Ts...>, DType t, F&& f) {
  using R = decltype(f(TypeTag<T0>{}));
  if constexpr (std::is_void_v<R>) {
    bool found = (t == DTypeOf<T0>::value ? (f(TypeTag<T0>{}), true) : false) ||
                 ((t == DTypeOf<Ts>::value ? (f(TypeTag<Ts>{}), true) : false) || ...);
    if (!found) throw_unsupported_dtype(t);
  } else {
    std::optional<R> r;
    bool found = (t == DTypeOf<T0>::value ? (r.emplace(f(TypeTag<T0>{})), true) : false) ||
                 ((t == DTypeOf<Ts>::value ? (r.emplace(f(TypeTag<Ts>{})), true) : false) || ...);
    if (!found) throw_unsupported_dtype(t);
    return std::move(*r);
  }
}

template <typename T> std::string_view ctype_of() { return dtype_ctype(DTypeOf<T>::value); }

}  // namespace tinyodlc::ir
