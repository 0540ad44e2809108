#include "backends/stream_emitter.h"

#include <fmt/format.h>

#include "support/embedded.h"
#include "support/template_engine.h"

namespace tinyodlc::backends {

using ir::Value;

std::vector<GeneratedFile> emit_stream_glue(const ir::Graph& frame, const ir::Graph& head, const StreamGlueOptions& o) {
  const Value* in = frame.inputs.at(0);
  const Value* feat = frame.outputs.at(0);
  std::map<std::string, std::string> v;
  v["version"] = TINYODLC_VERSION;
  v["source"] = o.source;
  v["name"] = o.name;
  v["frame_ns"] = o.frame_ns;
  v["head_ns"] = o.head_ns;
  v["frames"] = std::to_string(o.frames);
  v["input"] = o.input;
  v["input_type"] = o.input_type;
  v["feature"] = o.feature;
  v["feature_type"] = feat->type_str();
  ir::Shape frame_dims;  // the streamed input without batch and time axes (leading 1s)
  size_t lead = 0;
  while (lead + 1 < in->shape.size() && in->shape[lead] == 1) ++lead;
  frame_dims.assign(in->shape.begin() + static_cast<long>(lead), in->shape.end());
  v["frame_dims"] = fmt::format("{}", fmt::join(frame_dims, ", "));
  v["frame_ctype"] = std::string(ir::dtype_ctype(in->dtype));
  v["frame_elems"] = std::to_string(in->numel());
  v["frame_bytes"] = std::to_string(in->nbytes());
  v["feature_bytes"] = std::to_string(feat->nbytes());
  v["ring_bytes"] = std::to_string(2 * static_cast<size_t>(o.frames) * feat->nbytes());
  std::vector<std::string> params, names;
  for (size_t i = 0; i < head.outputs.size(); ++i) {
    const std::string n = fmt::format("out_{}", i);
    params.push_back(fmt::format("{}* {}", ir::dtype_ctype(head.outputs[i]->dtype), n));
    names.push_back(n);
  }
  v["infer_params"] = fmt::format("{}", fmt::join(params, ", "));
  v["infer_args_doc"] = fmt::format("{}", fmt::join(names, ", "));
  v["infer_call_args"] = v["infer_args_doc"];
  v["infer_output_list"] = v["infer_args_doc"];
  v["num_outputs_array"] = std::to_string(std::max<size_t>(head.outputs.size(), 1));
  const char* ring = "runtime/tinyodlc/runtime/feature_ring.h";
  return {{o.name + ".h", render_embedded("templates/stream.h.in", v)},
          {o.name + ".cpp", render_embedded("templates/stream.cpp.in", v)},
          {"tinyodlc/runtime/feature_ring.h", std::string(embedded_file(ring))}};
}

}  // namespace tinyodlc::backends
