#include "ir/op_registry.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace tinyodlc::ir {

OpRegistry& OpRegistry::instance() {
  static OpRegistry r;
  return r;
}

void OpRegistry::add(OpDef def) {
  auto key = std::make_pair(def.domain, def.name);
  ops_[key] = std::move(def);
}

const OpDef* OpRegistry::find(const std::string& domain, const std::string& name) const {
  std::string d = (domain == "ai.onnx") ? "" : domain;
  auto it = ops_.find({d, name});
  return it == ops_.end() ? nullptr : &it->second;
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> r;
  for (const auto& [k, v] : ops_) r.push_back(&v);
  return r;
}

std::string cpp_literal(float v) {
  if (std::isnan(v)) return "std::numeric_limits<float>::quiet_NaN()";
  if (std::isinf(v)) return v > 0 ? "std::numeric_limits<float>::infinity()" : "-std::numeric_limits<float>::infinity()";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s + "f";
}

std::string cpp_literal(double v) {
  if (std::isnan(v)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(v)) return v > 0 ? "std::numeric_limits<double>::infinity()" : "-std::numeric_limits<double>::infinity()";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string cpp_literal(int64_t v) {
  if (v == std::numeric_limits<int64_t>::min()) return "INT64_MIN";
  if (v > std::numeric_limits<int32_t>::max() || v < std::numeric_limits<int32_t>::min())
    return fmt::format("INT64_C({})", v);
  return fmt::format("{}", v);
}

std::string cpp_literal(uint64_t v) {
  if (v > std::numeric_limits<uint32_t>::max()) return fmt::format("UINT64_C({})", v);
  return fmt::format("{}u", v);
}

std::vector<std::shared_ptr<TensorData>> evaluate_node(const Node& n,
                                                       const std::vector<const TensorData*>& inputs) {
  if (!n.def || !n.def->lower) fail(n, "operator cannot be evaluated");
  KernelCall call = n.def->lower(n);
  // Pointer arrays cover every index the call names (In{k} may name an omitted optional
  // input beyond n.inputs.size(): it reads as null).
  size_t n_in = n.inputs.size(), n_out = n.outputs.size();
  for (const auto& a : call.args) {
    if (a.kind == KernelArg::Kind::Input) n_in = std::max(n_in, static_cast<size_t>(a.index) + 1);
    if (a.kind == KernelArg::Kind::Output) n_out = std::max(n_out, static_cast<size_t>(a.index) + 1);
    for (int k : a.indices) n_in = std::max(n_in, static_cast<size_t>(k) + 1);
  }
  std::vector<std::shared_ptr<TensorData>> outs(n.outputs.size());
  std::vector<const void*> in_ptrs(n_in, nullptr);
  for (size_t k = 0; k < n.inputs.size() && k < inputs.size(); ++k)
    if (inputs[k]) in_ptrs[k] = inputs[k]->bytes.data();
  std::vector<void*> out_ptrs(n_out, nullptr);
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    const Value* o = n.outputs[k];
    if (!o) continue;
    if (!o->has_shape) fail(n, fmt::format("output '{}' has no inferred shape", o->name));
    outs[k] = std::make_shared<TensorData>(o->dtype, o->shape);
    out_ptrs[k] = outs[k]->bytes.data();
  }
  std::vector<uint8_t> scratch(call.scratch_bytes + 16);
  call.run(in_ptrs.data(), out_ptrs.data(), scratch.data());
  return outs;
}

}  // namespace tinyodlc::ir
