// KernelCall: how one node executes, described once and used twice.
//
// An op's `lower` hook returns a KernelCall built with make_call(): the kernel function
// (a portable reference kernel from kernels/tinyodlc/ref, or an optimized variant with the
// same signature) plus the argument list. From that single description
//   - the C++ backend prints the call into the generated code (callee text + arguments), and
//   - the compiler itself runs the very same kernel function (constant folding, the
//     reference interpreter, calibration), through `run`.
// So an op's forward semantics exist exactly once: in its kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace tinyodlc::ir {

// Argument placeholders for make_call.
struct In { int k; };          // pointer to node input k's data
struct Out { int k; };         // pointer to node output k's data
struct Scratch {};             // pointer to this call's scratch buffer (KernelCall::scratch_bytes)
struct Null {};                // a null pointer (absent optional operand)
struct Ins { std::vector<int> ks; };  // array of pointers to inputs ks (variadic ops: Concat, Sum)
struct Outs { std::vector<int> ks; };  // array of pointers to outputs ks (variadic outputs: Split); absent -> nullptr
using I32s = std::vector<int32_t>;  // emitted as a `static const int32_t[]` array
using F32s = std::vector<float>;    // emitted as a `static const float[]` array

struct KernelArg {
  enum class Kind { Input, Output, Scratch, Null, Literal, IntArray, FloatArray, InputArray, OutputArray };
  Kind kind = Kind::Literal;
  int index = 0;          // Input/Output
  std::vector<int> indices;  // InputArray/OutputArray
  std::string literal;    // Literal: C++ text of the value
  I32s ints;              // IntArray
  F32s floats;            // FloatArray
};

struct KernelCall {
  std::string header;  // kernel header relative to the kernel include root, e.g. "ref/conv.h"
  std::string callee;  // C++ name of the kernel, e.g. "tinyodlc::ref::conv<float>"
  std::vector<KernelArg> args;
  size_t scratch_bytes = 0;
  // Runs the kernel on host memory: ins[k]/outs[k] point at the data of node input/output k.
  std::function<void(const void* const* ins, void* const* outs, void* scratch)> run;
};

// Literal text of scalars, exactly representable (floats printed shortest-round-trip).
std::string cpp_literal(float v);
std::string cpp_literal(double v);
std::string cpp_literal(int64_t v);
std::string cpp_literal(uint64_t v);
inline std::string cpp_literal(int32_t v) { return cpp_literal(static_cast<int64_t>(v)); }
inline std::string cpp_literal(uint32_t v) { return cpp_literal(static_cast<uint64_t>(v)); }
inline std::string cpp_literal(bool v) { return v ? "true" : "false"; }

namespace detail {
template <typename A> KernelArg describe(const A& a) {
  KernelArg r;
  if constexpr (std::is_same_v<A, In>) { r.kind = KernelArg::Kind::Input; r.index = a.k; }
  else if constexpr (std::is_same_v<A, Out>) { r.kind = KernelArg::Kind::Output; r.index = a.k; }
  else if constexpr (std::is_same_v<A, Scratch>) { r.kind = KernelArg::Kind::Scratch; }
  else if constexpr (std::is_same_v<A, Null>) { r.kind = KernelArg::Kind::Null; }
  else if constexpr (std::is_same_v<A, Ins>) { r.kind = KernelArg::Kind::InputArray; r.indices = a.ks; }
  else if constexpr (std::is_same_v<A, Outs>) { r.kind = KernelArg::Kind::OutputArray; r.indices = a.ks; }
  else if constexpr (std::is_same_v<A, I32s>) { r.kind = KernelArg::Kind::IntArray; r.ints = a; }
  else if constexpr (std::is_same_v<A, F32s>) { r.kind = KernelArg::Kind::FloatArray; r.floats = a; }
  else {
    static_assert(std::is_arithmetic_v<A>, "unsupported make_call argument");
    r.kind = KernelArg::Kind::Literal;
    if constexpr (std::is_same_v<A, bool>) r.literal = cpp_literal(a);
    else if constexpr (std::is_floating_point_v<A>) r.literal = cpp_literal(a);
    else if constexpr (std::is_signed_v<A>) r.literal = cpp_literal(static_cast<int64_t>(a));
    else r.literal = cpp_literal(static_cast<uint64_t>(a));
  }
  return r;
}

// hold(): materializes an argument for a host call (pointer arrays need storage that
// outlives the call expression); bind(): converts the held value to the parameter type.
template <typename A> auto hold(const A& a, const void* const* ins, void* const* outs, void* scratch) {
  if constexpr (std::is_same_v<A, In>) return ins[a.k];
  else if constexpr (std::is_same_v<A, Out>) return outs[a.k];
  else if constexpr (std::is_same_v<A, Scratch>) return scratch;
  else if constexpr (std::is_same_v<A, Null>) return nullptr;
  else if constexpr (std::is_same_v<A, Ins>) {
    std::vector<const void*> v;
    for (int k : a.ks) v.push_back(ins[k]);
    return v;
  } else if constexpr (std::is_same_v<A, Outs>) {
    std::vector<void*> v;
    for (int k : a.ks) v.push_back(outs[k]);
    return v;
  } else if constexpr (std::is_same_v<A, I32s> || std::is_same_v<A, F32s>) return a.data();
  else return a;
}

template <typename P, typename H> P bind(H& h) {
  if constexpr (std::is_same_v<H, std::vector<const void*>>) return reinterpret_cast<P>(h.data());
  else if constexpr (std::is_same_v<H, std::vector<void*>>) return reinterpret_cast<P>(h.data());
  else if constexpr (std::is_same_v<H, std::nullptr_t>) return static_cast<P>(nullptr);
  else return static_cast<P>(h);
}

template <typename Fn, typename Tuple, typename... P, size_t... I>
void invoke_bound(Fn fn, const Tuple& t, const void* const* ins, void* const* outs, void* scratch,
                  std::index_sequence<I...>, void (*)(P...)) {
  auto held = std::make_tuple(hold(std::get<I>(t), ins, outs, scratch)...);
  (void)held;
  fn(bind<P>(std::get<I>(held))...);
}
}  // namespace detail

// Builds a KernelCall for `fn` (whose C++ name is `callee`, declared in `header`).
// Each argument is one of In/Out/Ins/Outs/Scratch/Null, an arithmetic scalar, I32s or F32s, in the
// order of fn's parameters.
template <typename... P, typename... A>
KernelCall make_call(std::string header, std::string callee, void (*fn)(P...), A... args) {
  static_assert(sizeof...(P) == sizeof...(A), "make_call: argument count does not match the kernel");
  KernelCall c;
  c.header = std::move(header);
  c.callee = std::move(callee);
  (c.args.push_back(detail::describe(args)), ...);
  c.run = [fn, t = std::make_tuple(args...)](const void* const* ins, void* const* outs, void* scratch) {
    detail::invoke_bound(fn, t, ins, outs, scratch, std::index_sequence_for<A...>{}, fn);
  };
  return c;
}

}  // namespace tinyodlc::ir
