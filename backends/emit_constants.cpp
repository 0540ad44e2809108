// Constant data of the generated code: the weights (one const array per constant tensor, named
// after it) and the kernel parameter arrays (shapes, strides, requantization multipliers...),
// named after the node and the kernel parameter that use them, each distinct array once.
#include <cctype>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "backends/emitter_state.h"
#include "backends/memory_report.h"

namespace tinyodlc::backends::detail {

using namespace ir;

EmitState::EmitState(const EmitOptions& o) : opts(o) {
  // Names the templates use at namespace scope: a model name cannot take them.
  for (const char* n : {"kInputs", "kOutputs", "kTrainable", "kTrainableInit", "g_params", "g_grads", "g_moment",
                        "g_adam_v", "g_train", "TrainState", "reset_state", "ensure_trainable", "run_training_step",
                        "reset_optimizer", "optimizer_step", "invoke", "invoke_generic", "accumulate", "accumulate_generic", "apply_update", "train_step"})
    globals.insert(n);
}

std::string EmitState::unique_global(const std::string& base) {
  std::string s = base;
  for (int k = 1; globals.count(s); ++k) s = fmt::format("{}_{}", base, k);
  globals.insert(s);
  return s;
}

std::string format_elements(const TensorData& t) {
  std::string out;
  const int64_t n = t.numel();
  out.reserve(static_cast<size_t>(n) * 8);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 10 == 0) out += "\n    ";
    dispatch(AllTypes{}, t.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = t.data<T>()[i];
      if constexpr (std::is_same_v<T, bool>) out += v ? "true" : "false";
      else if constexpr (std::is_floating_point_v<T>) out += cpp_literal(v);
      else if constexpr (std::is_signed_v<T>) out += cpp_literal(static_cast<int64_t>(v));
      else out += cpp_literal(static_cast<uint64_t>(v));
    });
    out += ", ";
  }
  return out;
}

std::string node_identifier(const std::string& name) {
  std::string r;
  for (char c : name) {
    const char x = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (x == '_' && (r.empty() || r.back() == '_')) continue;  // no leading or doubled '_'
    r += x;
  }
  while (!r.empty() && r.back() == '_') r.pop_back();
  if (r.empty() || std::isdigit(static_cast<unsigned char>(r[0]))) r = "n_" + r;
  return r;
}

namespace {
constexpr char kMark = '\x01';  // delimits a parameter array placeholder (never in generated text)
}  // namespace

std::string param_array(EmitState& st, const std::string& ctype, const std::vector<std::string>& values,
                        const std::string& node, const std::string& param) {
  const std::string init = fmt::format("{}", fmt::join(values, ", "));
  const std::string key = ctype + " {" + init + "}";
  auto [it, fresh] = st.param_index.emplace(key, st.param_arrays.size());
  if (fresh) st.param_arrays.push_back({ctype, init, values.size(), {}});
  st.param_arrays[it->second].users.emplace_back(node, param);
  return fmt::format("{}{}{}", kMark, it->second, kMark);
}

void finish_param_arrays(EmitState& st) {
  st.param_names.clear();
  for (const auto& a : st.param_arrays) {
    std::string base;
    bool same_param = true;
    for (const auto& u : a.users) same_param = same_param && u.second == a.users[0].second;
    std::set<std::string> nodes;
    for (const auto& u : a.users) nodes.insert(u.first);
    if (nodes.size() == 1) {
      base = a.users[0].first + "_" + a.users[0].second;
    } else if (a.ctype == "int32_t" && a.count <= 8) {
      base = same_param ? a.users[0].second : "ints";
      for (char c : ", " + a.init)  // "_1_2_2"; a minus sign reads 'm'
        if (c != ' ') base += c == ',' ? '_' : (c == '-' ? 'm' : c);
    } else {
      base = a.users[0].first + "_" + a.users[0].second;
    }
    const std::string id = st.unique_global(base);
    st.param_names.push_back(id);
    std::string note;
    if (nodes.size() > 1) note = fmt::format("  // shared by {} calls", a.users.size());
    st.params += fmt::format("const {} {}[] = {{{}}};{}\n", a.ctype, id, a.init, note);
  }
}

std::string resolve_param_arrays(const EmitState& st, std::string text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t open; (open = text.find(kMark, pos)) != std::string::npos;) {
    const size_t close = text.find(kMark, open + 1);
    out.append(text, pos, open - pos);
    out += st.param_names.at(std::stoul(text.substr(open + 1, close - open - 1)));
    pos = close + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

void name_values(EmitState& st, Fn& f) {
  const Graph& g = *f.g;
  std::set<std::string> used;
  auto unique = [&](std::string base) {
    std::string s = base;
    for (int k = 1; used.count(s); ++k) s = fmt::format("{}_{}", base, k);
    used.insert(s);
    return s;
  };
  for (const Value* v : g.inputs) f.io_names[v] = unique("in_" + sanitize_identifier(v->name));
  for (const Value* v : g.outputs) f.out_names.push_back(unique("out_" + sanitize_identifier(v->name)));
  for (size_t i = 0; i < g.outputs.size(); ++i)
    if (!st.expr.count(g.outputs[i]) && f.plan.storage[g.outputs[i]] == Storage::GraphOutput)
      st.expr[g.outputs[i]] = f.out_names[i];
  for (const Value* v : g.inputs) st.expr[v] = f.io_names[v];
  std::vector<const Value*> consts;
  std::set<const Value*> seen;
  auto note = [&](const Value* v) {
    if (v && v->is_constant() && seen.insert(v).second) consts.push_back(v);
  };
  for (const auto& n : g.nodes())
    for (const Value* in : n->inputs) note(in);
  for (const Value* o : g.outputs) note(o);
  for (const Value* c : consts) {
    if (c->numel() == 0) {
      st.expr[c] = fmt::format("static_cast<const {}*>(nullptr)", dtype_ctype(c->dtype));
      continue;
    }
    auto it = st.const_ids.find(c->constant.get());
    if (it != st.const_ids.end()) {
      st.expr[c] = it->second;
      continue;
    }
    std::string id = st.unique_global("w_" + sanitize_identifier(c->name));
    if (st.opts.enrol.prototype_scale > 0 && c->name == "loss.prototypes" && c->dtype == DType::F32 &&
        c->numel() == st.opts.enrol.dim * st.opts.enrol.classes) {
      // Filled from the enrolment store before every training step (cosine-prototype loss).
      st.const_defs.push_back({id,
                               fmt::format("// '{}' {}: scale * the enrolled prototypes, transposed (RAM; "
                                           "load_enrolled_prototypes())\nalignas(16) float {}[{}] = {{}};\n",
                                           c->name, c->type_str(), id, c->numel()),
                               0, true});
      st.runtime_prototypes = id;
      st.const_ids[c->constant.get()] = id;
      st.expr[c] = id;
      continue;
    }
    const std::string wsec = weights_section(st.opts.name, f.plan);
    // [[maybe_unused]]: a constant input may be folded into kernel parameters (Pad's pads),
    // and clang's -Wunused-const-variable (in -Wall) would reject the array.
    st.const_defs.push_back({id,
                             fmt::format("// '{}' {}\n[[maybe_unused]] alignas(16) const {} {}[{}]{} = {{{}\n}};\n",
                                         c->name, c->type_str(), dtype_ctype(c->dtype), id, c->numel(),
                                         wsec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", wsec),
                                         format_elements(*c->constant)),
                             c->nbytes(), false});
    st.result.weight_bytes += c->nbytes();
    st.const_ids[c->constant.get()] = id;
    st.expr[c] = id;
  }
}

void finish_constants(EmitState& st, const std::vector<const std::string*>& code) {
  std::unordered_set<std::string> idents;
  const auto is_id = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  for (const std::string* t : code)
    for (size_t i = 0; i < t->size();) {
      if (!is_id((*t)[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < t->size() && is_id((*t)[j])) ++j;
      idents.insert(t->substr(i, j - i));
      i = j;
    }
  for (const auto& d : st.const_defs) {
    if (d.always || idents.count(d.id)) st.constants += d.text;
    else st.result.weight_bytes -= d.bytes;
  }
  st.const_defs.clear();
}

}  // namespace tinyodlc::backends::detail
