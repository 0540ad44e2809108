// The training part of the generated code (docs/training.md): layout of the trainable
// parameters in the parameter / gradient blobs, the persistent training state reserved in RAM,
// the training API and optimizer rendered from templates/training*.in, and training.json.
#include <fmt/format.h>

#include "backends/emitter_state.h"
#include "backends/memory_report.h"
#include "backends/persist_emitter.h"
#include "passes/training.h"
#include "support/json.h"
#include "support/template_engine.h"

namespace tinyodlc::backends::detail {

using namespace ir;

// Blob layout: the trainable parameters in their order of first use in the training graph.
void layout_training_state(EmitState& st) {
  size_t off = 0;
  for (const Value* p : passes::trainable_params(*st.train.g)) {
    if (p->dtype != DType::F32) fail(*p, "trainable parameters must be float32");
    if (!p->init) fail(*p, "trainable parameter without initial value");
    st.result.trainable.push_back({p->name, p->shape, off, static_cast<size_t>(p->numel())});
    st.slot_of[p->name] = st.result.trainable.size() - 1;
    off += static_cast<size_t>(p->numel());
    off = (off + 3) / 4 * 4;  // 16-byte alignment of every parameter
  }
  st.result.trainable_count = off;
  const std::string& kind = st.opts.optimizer.kind;
  const size_t blobs = kind == "adam" ? 4 : (kind == "momentum" ? 3 : 2);
  st.result.state_bytes = blobs * off * sizeof(float);
}

// The persistent training state takes RAM next to the arenas: it is reserved in the largest
// RAM region before planning (so a plan that fits leaves room for it).
void reserve_training_state(EmitState& st, PlanOptions& mem) {
  st.state_region = reserve_in_largest_ram(
      mem, st.result.state_bytes, "",
      fmt::format("the training state ({} bytes: parameters, gradients, optimizer state)", st.result.state_bytes));
}

void training_vars(EmitState& st, std::map<std::string, std::string>& vars) {
  Fn& tf = st.train;
  const Graph& tg = *tf.g;
  std::map<std::string, std::string> t = vars;
  t["train_body"] = function_body(st, tf);
  std::vector<std::string> params, args, gen;
  std::string doc;
  for (size_t i = 0; i < tg.inputs.size(); ++i) {
    const Value* x = tg.inputs[i];
    params.push_back(fmt::format("const {}* {}", dtype_ctype(x->dtype), tf.io_names.at(x)));
    args.push_back(tf.io_names.at(x));
    gen.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", dtype_ctype(x->dtype), i));
    doc += fmt::format("//   {:<24} {} (ONNX tensor '{}')\n", tf.io_names.at(x), x->type_str(), x->name);
  }
  t["train_params"] = fmt::format("{}", fmt::join(params, ", "));
  t["train_args"] = fmt::format("{}", fmt::join(args, ", "));
  t["train_generic_args"] = fmt::format("{}", fmt::join(gen, ", "));
  t["train_doc"] = doc;
  t["train_num_inputs"] = std::to_string(tg.inputs.size());
  t["label_bytes"] = std::to_string(tg.inputs.back()->nbytes());
  t["loss_out"] = tf.out_names.at(0);
  const OptimizerOptions& o = st.opts.optimizer;
  if (o.kind != "sgd" && o.kind != "momentum" && o.kind != "adam")
    throw CompileError("", fmt::format("unknown optimizer '{}' (sgd, momentum or adam)", o.kind));
  t["optimizer"] = o.kind;
  t["lr"] = cpp_literal(o.lr);
  t["momentum"] = cpp_literal(o.momentum);
  t["weight_decay"] = cpp_literal(o.weight_decay);
  t["beta1"] = cpp_literal(o.beta1);
  t["beta2"] = cpp_literal(o.beta2);
  t["eps"] = cpp_literal(o.eps);
  t["batch"] = std::to_string(o.batch);
  t["num_trainable"] = std::to_string(st.result.trainable.size());
  t["trainable_count"] = std::to_string(std::max<size_t>(st.result.trainable_count, 1));
  t["state_bytes"] = std::to_string(st.result.state_bytes);
  t["training_arena_bytes"] = std::to_string(tf.plan.arena_bytes);
  std::string infos;
  for (const auto& s : st.result.trainable) infos += fmt::format("    {{\"{}\", {}, {}}},\n", s.name, s.offset, s.count);
  // Initial values (flash), in blob order with the alignment padding.
  std::vector<float> blob(st.result.trainable_count, 0.0f);
  for (const auto& v : tg.values())
    if (v->is_param()) {
      auto it = st.slot_of.find(v->name);
      if (it == st.slot_of.end()) continue;
      const auto& s = st.result.trainable[it->second];
      for (size_t i = 0; i < s.count; ++i) blob[s.offset + i] = v->init->data<float>()[i];
    }
  TensorData bt(DType::F32, {static_cast<int64_t>(blob.size())});
  for (size_t i = 0; i < blob.size(); ++i) bt.data<float>()[i] = blob[i];
  const MemoryPlan& mp = st.main.plan;
  const std::string wsec = weights_section(st.opts.name, mp);
  t["trainable_infos"] = infos;
  t["trainable_init"] = fmt::format("alignas(16) const float kTrainableInit[{}]{} = {{{}\n}};", blob.size() ? blob.size() : 1,
                                    wsec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", wsec),
                                    blob.empty() ? "0" : format_elements(bt));
  st.result.weight_bytes += blob.size() * sizeof(float);
  std::string sec;
  if (!st.state_region.empty())
    for (size_t i = 0; i < mp.regions.size(); ++i)
      if (mp.regions[i].name == st.state_region) sec = arena_section(st.opts.name, mp, static_cast<int>(i));
  t["state_section"] = sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec);
  t["optimizer_code"] = render_embedded("templates/training_optimizer_" + o.kind + ".cpp.in", t);
  add_training_state(st.learned, st.result.trainable, st.result.trainable_count, o);
  vars["training_decls"] = render_embedded("templates/training.h.in", t);
  vars["training_defs"] = render_embedded("templates/training.cpp.in", t);
  vars["state_decl"] = render_embedded("templates/training_state.cpp.in", t);
}

// training.json: forward-only and training-step memory, separately (docs/training.md).
GeneratedFile training_report(const EmitState& st) {
  const MemoryPlan& tp = st.train.plan;
  const MemoryPlan& ip = st.main.plan;
  const EmitResult& r = st.result;
  const size_t params = r.trainable_count * sizeof(float);
  const size_t arena = std::max(ip.arena_bytes, tp.arena_bytes);
  size_t real = 0;
  for (const auto& s : r.trainable) real += s.count;
  json::Writer w;
  w.begin_object();
  w.field("model", st.opts.name).field("optimizer", st.opts.optimizer.kind).field("batch", st.opts.optimizer.batch);
  w.field("trainable_parameters", real).field("blob_floats", r.trainable_count);
  w.key("trainable").begin_array();
  for (const auto& s : r.trainable)
    w.begin_object(true)
        .field("name", s.name)
        .field("shape", shape_str(s.shape))
        .field("offset", s.offset)
        .field("count", s.count)
        .end_object();
  w.end_array();
  w.field("inference_arena_bytes", ip.arena_bytes).field("inference_lower_bound_bytes", ip.lower_bound);
  w.field("training_arena_bytes", tp.arena_bytes).field("training_lower_bound_bytes", tp.lower_bound);
  w.field("parameter_bytes", params).field("gradient_bytes", params);
  w.field("optimizer_state_bytes", r.state_bytes - 2 * params).field("state_bytes", r.state_bytes);
  w.field("forward_ram_bytes", ip.arena_bytes + params);
  w.field("training_ram_bytes", arena + r.state_bytes);
  w.field("training_extra_ram_bytes", arena + r.state_bytes - ip.arena_bytes);
  w.field("training_nodes", st.train.g->nodes().size()).field("inference_nodes", st.main.g->nodes().size());
  w.end_object();
  return {"training.json", w.str()};
}

}  // namespace tinyodlc::backends::detail
