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
// 8 32-bit scalars, rounded up to the 8-byte alignment of the labels (static_assert'ed in the code).
size_t state_bytes(int b, size_t sample) {
  const size_t n = static_cast<size_t>(b) * sample + static_cast<size_t>(b) * (8 + 4 + 4 + 4) + 8 * 4;
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
size_t scored_output(const EmitState& st) {
  const Graph& g = *st.main.g;
  const std::string& want = st.opts.active_learning_output;
  if (want.empty()) {
    if (g.outputs.size() == 1) return 0;
    throw CompileError("--active-learning", fmt::format("the model has {} outputs: name the logits the scores are "
                                                        "computed on with --loss-output", g.outputs.size()));
  }
  for (size_t k = 0; k < g.outputs.size(); ++k)
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
  if (a.store == "features")
    throw CompileError("--al-store", "features: storing the trainable part's input needs a training step that starts "
                                     "at that tensor; compile the head alone with --train-input TENSOR (its inputs are "
                                     "then the features, and --al-store inputs/auto stores them) or use --al-store inputs");
  const Graph& tg = *st.opts.training;
  const Value* label = tg.inputs.back();
  if (tg.inputs.size() != g.inputs.size() + 1 || label->dtype != DType::I64 || label->numel() != 1)
    throw CompileError("--active-learning", fmt::format("needs a cross-entropy training step on one sample (an int64 "
                                                        "[1] label); this one takes '{}' {}", label->name,
                                                        label->type_str()));
  for (size_t k = 0; k < g.inputs.size(); ++k)
    if (tg.inputs[k]->name != g.inputs[k]->name || tg.inputs[k]->nbytes() != g.inputs[k]->nbytes())
      throw CompileError("--active-learning", fmt::format("the training step's input {} ('{}') differs from invoke()'s "
                                                          "('{}')", k, tg.inputs[k]->name, g.inputs[k]->name));
  const Value* out = g.outputs[scored_output(st)];
  if (out->dtype != DType::F32 || out->numel() < 2)
    throw CompileError("--active-learning", fmt::format("the scored output '{}' must hold float logits of at least 2 "
                                                        "classes, it is {}", out->name, out->type_str()));
  if (a.strategy == "hybrid" && g.inputs[0]->dtype != DType::F32)
    throw CompileError("--active-learning", fmt::format("hybrid: the diversity term reads input 0 ('{}') as float "
                                                        "features, it is {}", g.inputs[0]->name,
                                                        g.inputs[0]->type_str()));
  size_t sample = 0;
  for (const Value* x : g.inputs) sample += align16(x->nbytes());
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
  t["al_store"] = "inputs";
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
    copy.push_back(fmt::format("    memcpy(g_al.sample(slot) + {}, al_in_{}, {});\n", off, k, x->nbytes()));
    train.push_back(fmt::format("reinterpret_cast<const {}*>(smp + {})", ct, off));
    off += align16(x->nbytes());
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
  t["al_feature"] = "reinterpret_cast<const float*>(al_in_0)";
  t["al_feature_count"] = std::to_string(g.inputs[0]->numel());
  std::string bufs;
  std::vector<std::string> outs;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
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
  t["al_output_buffers"] = bufs;
  t["al_output_list"] = fmt::format("{}", fmt::join(outs, ", "));
  t["al_logits"] = fmt::format("reinterpret_cast<const float*>(g_al_out_{})", so);
  std::string in_desc;
  for (const Value* x : g.inputs) in_desc += fmt::format(" {}:{}", x->name, x->type_str());
  st.learned.add({"al.buffer", "&g_al", st.result.al_state_bytes,
                  fmt::format("active learning {} rv={} buffer={} sample={} inputs{} scored={}:{}", a.strategy, a.rv,
                              a.buffer, off, in_desc, g.outputs[so]->name, g.outputs[so]->type_str())});
  st.learned.add_prepare("  al_ensure();\n");
  st.learned.add_reset("    al_reset();\n");
  vars["training_decls"] += render_embedded("templates/active_learning.h.in", t);
  vars["training_defs"] += render_embedded("templates/active_learning.cpp.in", t);
  const std::string rt = "runtime/tinyodlc/runtime/active_learning.h";
  st.result.files.push_back({rt.substr(std::string("runtime/").size()), std::string(embedded_file(rt))});
}

GeneratedFile active_learning_report(const EmitState& st) {
  const ActiveLearningOptions& a = st.opts.active_learning;
  json::Writer w;
  w.begin_object();
  w.field("model", st.opts.name).field("strategy", a.strategy).field("rv", a.rv).field("store", "inputs");
  w.field("buffer", a.buffer).field("budget", a.budget);
  w.field("state_bytes", st.result.al_state_bytes).field("ram_bytes", st.result.al_ram_bytes);
  w.field("region", st.state_region.empty() ? std::string("host") : st.state_region);
  w.end_object();
  return {"active_learning.json", w.str()};
}

}  // namespace tinyodlc::backends::detail
