#include "backends/enrol_emitter.h"

#include <cmath>

#include <fmt/format.h>

#include "ir/kernel_call.h"
#include "support/embedded.h"
#include "support/template_engine.h"

namespace tinyodlc::backends {

size_t embedding_output(const ir::Graph& g, const std::string& name) {
  for (size_t k = 0; k < g.outputs.size(); ++k)
    if (g.outputs[k]->name == name) {
      const ir::Value* v = g.outputs[k];
      if (v->dtype != ir::DType::F32)
        throw CompileError(fmt::format("--enrol-output '{}'", name),
                           fmt::format("the embedding must be float32, it is {}", v->type_str()));
      return k;
    }
  std::vector<std::string> names;
  for (const ir::Value* v : g.outputs) names.push_back(fmt::format("'{}' {}", v->name, v->type_str()));
  throw CompileError(fmt::format("--enrol-output '{}'", name),
                     fmt::format("is not an output of the model (outputs: {})", fmt::join(names, ", ")));
}

namespace {

void check_options(const EnrolOptions& o) {
  if (o.classes < 1 || o.classes > 65536)
    throw CompileError("--classes", fmt::format("must be between 1 and 65536 (got {})", o.classes));
  if (!std::isfinite(o.threshold) || o.threshold < -1.0f || o.threshold > 1.0f)
    throw CompileError("--threshold", fmt::format("must be a cosine in [-1, 1] (got {})", o.threshold));
}

size_t store_bytes(int classes, int64_t dim) {
  // PrototypeStore: sum[K][D] floats + count[K] uint32 + proto[K][D] floats.
  return static_cast<size_t>(classes) * (2 * static_cast<size_t>(dim) * 4 + 4);
}

}  // namespace

EmitOptions::Enrol enrol_emit_options(const ir::Graph& g, const EnrolOptions& o) {
  const ir::Value* emb = g.outputs[embedding_output(g, o.output)];
  check_options(o);
  EmitOptions::Enrol r;
  r.classes = o.classes;
  r.dim = emb->numel();
  r.embedding = fmt::format("'{}' {}", emb->name, emb->type_str());
  r.threshold = o.threshold;
  r.ram_bytes = store_bytes(o.classes, r.dim);
  for (const ir::Value* v : g.outputs) r.ram_bytes += (std::max<size_t>(v->nbytes(), 1) + 15) / 16 * 16;
  return r;
}

std::vector<GeneratedFile> emit_enrol_glue(const ir::Graph& g, const EnrolOptions& o) {
  const size_t e = embedding_output(g, o.output);
  const ir::Value* emb = g.outputs[e];
  check_options(o);
  const int64_t dim = emb->numel();
  std::map<std::string, std::string> v;
  v["version"] = TINYODLC_VERSION;
  v["source"] = o.source;
  v["name"] = o.name;
  v["embedding"] = emb->name;
  v["embedding_type"] = emb->type_str();
  v["classes"] = std::to_string(o.classes);
  v["dim"] = std::to_string(dim);
  v["store_bytes"] = std::to_string(store_bytes(o.classes, dim));
  v["threshold"] = ir::cpp_literal(o.threshold);  // "1.0f", not "1f"
  std::vector<std::string> params, args, generic, outs;
  std::string buffers;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    params.push_back(fmt::format("const {}* in_{}", ir::dtype_ctype(g.inputs[k]->dtype), k));
    args.push_back(fmt::format("in_{}", k));
    generic.push_back(fmt::format("static_cast<const {}*>(inputs[{}])", ir::dtype_ctype(g.inputs[k]->dtype), k));
  }
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    buffers += fmt::format("alignas(16) uint8_t g_out_{}[{}];\n", k, std::max<size_t>(g.outputs[k]->nbytes(), 1));
    outs.push_back(fmt::format("g_out_{}", k));
  }
  v["input_params"] = fmt::format("{}", fmt::join(params, ", "));
  v["input_args"] = fmt::format("{}", fmt::join(args, ", "));
  v["input_args_doc"] = v["input_args"];
  v["input_list"] = v["input_args"];
  v["generic_args"] = fmt::format("{}", fmt::join(generic, ", "));
  v["output_buffers"] = buffers;
  v["output_list"] = fmt::format("{}", fmt::join(outs, ", "));
  v["num_inputs_array"] = std::to_string(std::max<size_t>(g.inputs.size(), 1));
  v["num_outputs_array"] = std::to_string(std::max<size_t>(g.outputs.size(), 1));
  v["embedding_buffer"] = fmt::format("reinterpret_cast<const float*>(g_out_{})", e);
  return {{o.name + "_enrol.h", render_embedded("templates/enrol.h.in", v)},
          {o.name + "_enrol.cpp", render_embedded("templates/enrol.cpp.in", v)},
          {"tinyodlc/runtime/prototypes.h", std::string(embedded_file("runtime/tinyodlc/runtime/prototypes.h"))}};
}

}  // namespace tinyodlc::backends
