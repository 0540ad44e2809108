// Active learning in the generated code (docs/active-learning.md): validation of the options
// against the model, the candidate buffer's RAM (reserved next to the training state), the
// glue rendered from templates/active_learning.*.in over tinyodlc/runtime/active_learning.h, its
// learned-state block and active_learning.json.
#include <fmt/format.h>

#include "backends/emitter_state.h"
#include "backends/memory_report.h"
#include "backends/persist_emitter.h"
#include "support/embedded.h"
#include "support/json.h"
#include "support/template_engine.h"

namespace tinyodlc::backends::detail {

using namespace ir;

namespace {

size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// sizeof(tinyodlc::runtime::al::Buffer<B, S>): samples, labels (int64), scores, status, seq, and
// 9 32-bit scalars (budget, ready, rv_all, rv_in, n_all, n_in, rng, offered, seed), rounded up to the 8-byte alignment of the labels (static_assert'ed in the code).
size_t state_bytes(int b, size_t sample) {
  const size_t n = static_cast<size_t>(b) * sample + static_cast<size_t>(b) * (8 + 4 + 4 + 4) + 9 * 4;
  return (n + 7) / 8 * 8;
}

const char* strategy_enum(const std::string& s) {
  if (s == "least-confidence") return "kLeastConfidence";
  if (s == "margin") return "kMargin";
  if (s == "entropy") return "kEntropy";
  if (s == "hybrid") return "kHybrid";
  if (s == "random") return "kRandom";
  return nullptr;
}

const char* rv_enum(const std::string& s) {
  if (s == "none") return "kRvNone";
  if (s == "info") return "kRvInfo";
  if (s == "dual") return "kRvDual";
  return nullptr;
}

// The graph output the scores are computed on: the loss output (--loss-output) or the only output.
size_t public_outputs(const EmitState& st) {
  return st.main.g->outputs.size() - (st.opts.active_learning.feature.empty() ? 0 : 1);
}

// The feature tensor (--al-store features): the hidden last output of the inference graph.
const Value* feature_value(const EmitState& st) {
  return st.opts.active_learning.feature.empty() ? nullptr : st.main.g->outputs.back();
}

size_t scored_output(const EmitState& st) {
  const Graph& g = *st.main.g;
  const std::string& want = st.opts.active_learning_output;
  const size_t nout = public_outputs(st);
  if (want.empty()) {
    if (nout == 1) return 0;
    throw CompileError("--active-learning", fmt::format("the model has {} outputs: name the logits the scores are "
                                                        "computed on with --loss-output", nout));
  }
  for (size_t k = 0; k < nout; ++k)
    if (g.outputs[k]->name == want) return k;
  throw CompileError("--active-learning", fmt::format("the loss output '{}' is not a graph output; the scores need "
                                                      "the logits as an output of invoke()", want));
}

}  // namespace

void reserve_active_learning(EmitState& st, PlanOptions& mem) {
  const ActiveLearningOptions& a = st.opts.active_learning;
  const Graph& g = *st.main.g;
  if (!st.opts.training)
    throw CompileError("--active-learning", "needs a training build: add --trainable, --trainable-last, --train-input "
                                            "or --append-head");
  if (!strategy_enum(a.strategy))
    throw CompileError("--active-learning", fmt::format("unknown strategy '{}' (least-confidence, margin, entropy, "
                                                        "hybrid or random)", a.strategy));
  if (!rv_enum(a.rv)) throw CompileError("--al-rv", fmt::format("unknown rule '{}' (none, info or dual)", a.rv));
  if (a.buffer < 1 || a.buffer > 4096)
    throw CompileError("--al-buffer", fmt::format("must be between 1 and 4096 candidates (got {})", a.buffer));
  if (a.budget < 0 || a.budget > 1000000000)
    throw CompileError("--al-budget", fmt::format("must be between 0 and 1000000000 labels (got {})", a.budget));
  if (a.store != "auto" && a.store != "inputs" && a.store != "features")
    throw CompileError("--al-store", fmt::format("unknown store '{}' (auto, features or inputs)", a.store));
  const Value* fv = feature_value(st);
  if (a.store == "features" && !fv)
    throw CompileError("--al-store", "features: the driver found no feature tensor to store");  // resolved earlier
  // What the buffer stores and the training step takes: the raw inputs, or the features.
  std::vector<const Value*> stored(g.inputs.begin(), g.inputs.end());
  if (fv) stored = {fv};
  const Graph& tg = *st.opts.training;
  const Value* label = tg.inputs.back();
  if (tg.inputs.size() != stored.size() + 1 || label->dtype != DType::I64 || label->numel() != 1)
    throw CompileError("--active-learning", fmt::format("needs a cross-entropy training step on one sample (an int64 "
                                                        "[1] label); this one takes '{}' {}", label->name,
                                                        label->type_str()));
  for (size_t k = 0; k < stored.size(); ++k)
    if (tg.inputs[k]->name != stored[k]->name || tg.inputs[k]->nbytes() != stored[k]->nbytes())
      throw CompileError("--active-learning", fmt::format("the training step's input {} ('{}') differs from the stored "
                                                          "'{}'", k, tg.inputs[k]->name, stored[k]->name));
  const Value* out = g.outputs[scored_output(st)];
  if (out->dtype != DType::F32 || out->numel() < 2)
    throw CompileError("--active-learning", fmt::format("the scored output '{}' must hold float logits of at least 2 "
                                                        "classes, it is {}", out->name, out->type_str()));
  if (a.strategy == "hybrid" && stored[0]->dtype != DType::F32)
    throw CompileError("--active-learning", fmt::format("hybrid: the diversity term reads input 0 ('{}') as float "
                                                        "features, it is {}", stored[0]->name,
                                                        stored[0]->type_str()));
  size_t sample = 0;
  for (const Value* x : stored) sample += align16(x->nbytes());
  st.result.al_state_bytes = state_bytes(a.buffer, sample);
  size_t outs = 0;
  for (const Value* y : g.outputs) outs += align16(std::max<size_t>(y->nbytes(), 1));
  st.result.al_ram_bytes = st.result.al_state_bytes + outs;
  // Into the training state's region (the largest RAM region; none on the host).
  for (auto& r : mem.regions) {
    if (r.name != st.state_region) continue;
    if (r.reserved + st.result.al_ram_bytes > r.capacity)
      throw FitError("--al-buffer", fmt::format("the active-learning buffer ({} bytes: {} candidates of {} bytes, "
                                                "scores, labels and the offer's outputs) does not fit the RAM region {} "
                                                "({} bytes free)", st.result.al_ram_bytes, a.buffer, sample, r.name,
                                                r.capacity - r.reserved));
    r.reserved += st.result.al_ram_bytes;
  }
}

void active_learning_vars(EmitState& st, std::map<std::string, std::string>& vars) {
  const ActiveLearningOptions& a = st.opts.active_learning;
  const Graph& g = *st.main.g;
  const size_t so = scored_output(st);
  std::map<std::string, std::string> t = vars;
  t["al_strategy"] = a.strategy;
  t["al_rv"] = a.rv;
  const Value* fv = feature_value(st);
  t["al_store"] = fv ? fmt::format("the features '{}' {}", fv->name, fv->type_str()) : "the raw inputs";
  t["al_strategy_enum"] = strategy_enum(a.strategy);
  t["al_rv_enum"] = rv_enum(a.rv);
  t["al_buffer"] = std::to_string(a.buffer);
  t["al_budget"] = std::to_string(a.budget);
  t["al_seed"] = std::to_string(a.seed);
  t["al_classes"] = std::to_string(g.outputs[so]->numel());
  t["al_output"] = g.outputs[so]->name;
  std::vector<std::string> params, args, gen, copy, train;
  size_t off = 0;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    const Value* x = g.inputs[k];
    const std::string ct(dtype_ctype(x->dtype));
    params.push_back(fmt::format("const {}* al_in_{}", ct, k));
    args.push_back(fmt::format("al_in_{}", k));
    gen.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", ct, k));
    if (fv) continue;
    copy.push_back(fmt::format("    memcpy(g_al.sample(slot) + {}, al_in_{}, {});\n", off, k, x->nbytes()));
    train.push_back(fmt::format("reinterpret_cast<const {}*>(smp + {})", ct, off));
    off += align16(x->nbytes());
  }
  if (fv) {
    copy.push_back(fmt::format("    memcpy(g_al.sample(slot), g_al_features, {});\n", fv->nbytes()));
    train.push_back("reinterpret_cast<const float*>(smp)");
    off = align16(fv->nbytes());
  }
  t["al_sample_bytes"] = std::to_string(off);
  t["al_state_bytes"] = std::to_string(st.result.al_state_bytes);
  t["al_ram_bytes"] = std::to_string(st.result.al_ram_bytes);
  t["al_params"] = fmt::format("{}", fmt::join(params, ", "));
  t["al_args"] = fmt::format("{}", fmt::join(args, ", "));
  t["al_args_doc"] = t["al_args"];
  t["al_generic_args"] = fmt::format("{}", fmt::join(gen, ", "));
  t["al_copy_in"] = fmt::format("{}", fmt::join(copy, ""));
  t["al_train_args"] = fmt::format("{}", fmt::join(train, ", "));
  t["al_feature"] = fv ? "g_al_features" : "reinterpret_cast<const float*>(al_in_0)";
  t["al_feature_count"] = std::to_string(fv ? fv->numel() : g.inputs[0]->numel());
  std::string bufs;
  std::vector<std::string> outs;
  for (size_t k = 0; k < public_outputs(st); ++k) {
    bufs += fmt::format("alignas(16) uint8_t g_al_out_{}[{}]{};\n", k, align16(std::max<size_t>(g.outputs[k]->nbytes(), 1)),
                        "{{al_section}}");
    outs.push_back(fmt::format("g_al_out_{}", k));
  }
  std::string sec;
  const MemoryPlan& mp = st.main.plan;
  if (!st.state_region.empty())
    for (size_t i = 0; i < mp.regions.size(); ++i)
      if (mp.regions[i].name == st.state_region) sec = arena_section(st.opts.name, mp, static_cast<int>(i));
  t["al_section"] = sec.empty() ? "" : fmt::format(" __attribute__((section(\"{}\")))", sec);
  std::string::size_type pos;
  while ((pos = bufs.find("{{al_section}}")) != std::string::npos) bufs.replace(pos, 14, t["al_section"]);
  t["al_invoke"] = "invoke_generic(in, out)";
  t["al_features_decl"] = "";
  if (fv) {
    // invoke() writes the features here too (it is the hidden output of invoke_with_features()).
    vars["state_decl"] += fmt::format("\n// The features '{}' {} of the last invoke() (active learning, --al-store features).\n"
                                      "alignas(16) float g_al_features[{}]{};\n", fv->name, fv->type_str(),
                                      fv->numel(), t["al_section"]);
    std::vector<std::string> ins, ps;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      ins.push_back(fmt::format("static_cast<const {}*>(in[{}])", dtype_ctype(g.inputs[k]->dtype), k));
      ps.push_back(fmt::format("const {}* in_{}", dtype_ctype(g.inputs[k]->dtype), k));
    }
    for (size_t k = 0; k < public_outputs(st); ++k) {
      ins.push_back(fmt::format("static_cast<{}*>(out[{}])", dtype_ctype(g.outputs[k]->dtype), k));
      ps.push_back(fmt::format("{}* out_{}", dtype_ctype(g.outputs[k]->dtype), k));
    }
    ins.push_back("g_al_features");
    ps.push_back("float* features");
    t["al_invoke"] = fmt::format("invoke_with_features({})", fmt::join(ins, ", "));
    t["al_features_decl"] = fmt::format(
        "// invoke() that also writes the trainable part's input, the features '{}' {} ({} floats),\n"
        "// to `features` (what the active-learning buffer stores and al_train() trains on).\n"
        "int invoke_with_features({});\nconstexpr size_t kAlFeatureCount = {};\n",
        fv->name, fv->type_str(), fv->numel(), fmt::join(ps, ", "), fv->numel());
  }
  t["al_output_buffers"] = bufs;
  t["al_output_list"] = fmt::format("{}", fmt::join(outs, ", "));
  t["al_logits"] = fmt::format("reinterpret_cast<const float*>(g_al_out_{})", so);
  std::string in_desc;
  for (const Value* x : g.inputs) in_desc += fmt::format(" {}:{}", x->name, x->type_str());
  if (fv) in_desc = fmt::format(" features {}:{}", fv->name, fv->type_str());
  st.learned.add({"al.buffer", "&g_al", st.result.al_state_bytes,
                  fmt::format("active learning {} rv={} buffer={} sample={} stored{} scored={}:{} state=samples,i64 label,"
                              "f32 score,i32 status,u32 seq,i32 budget_left,i32 ready,f32 rv_all,f32 rv_in,"
                              "i32 n_all,i32 n_in,u32 rng,u32 offered,u32 seed", a.strategy, a.rv,
                              a.buffer, off, in_desc, g.outputs[so]->name, g.outputs[so]->type_str())});
  st.learned.add_prepare("  al_ensure();\n");
  st.learned.add_reset("    al_reinit();\n");
  vars["training_decls"] += render_embedded("templates/active_learning.h.in", t);
  vars["training_defs"] += render_embedded("templates/active_learning.cpp.in", t);
  const std::string rt = "runtime/tinyodlc/runtime/active_learning.h";
  st.result.files.push_back({rt.substr(std::string("runtime/").size()), std::string(embedded_file(rt))});
}

GeneratedFile active_learning_report(const EmitState& st) {
  const ActiveLearningOptions& a = st.opts.active_learning;
  json::Writer w;
  w.begin_object();
  w.field("model", st.opts.name).field("strategy", a.strategy).field("rv", a.rv).field("store", st.opts.active_learning.feature.empty() ? "inputs" : "features");
  if (!st.opts.active_learning.feature.empty()) w.field("feature", st.opts.active_learning.feature);
  w.field("buffer", a.buffer).field("budget", a.budget);
  w.field("state_bytes", st.result.al_state_bytes).field("ram_bytes", st.result.al_ram_bytes);
  w.field("region", st.state_region.empty() ? std::string("host") : st.state_region);
  w.end_object();
  return {"active_learning.json", w.str()};
}

}  // namespace tinyodlc::backends::detail
