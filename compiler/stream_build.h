// Internal to the driver (compiler/driver.cpp): the pass runner and the streaming build
// (compiler/stream_build.cpp, docs/streaming.md).
#pragma once

#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "compiler/driver.h"
#include "compiler/targets.h"
#include "passes/quantize.h"
#include "passes/stream_split.h"

namespace tinyodlc::driver_detail {

// Runs the named passes on g with the compile options' IR printing (`what` is appended to
// the banner). `quant` is the int8 passes' shared state, `stream` the stream-split's (may be null).
void run_pipeline(const std::vector<std::string>& names, ir::Graph& g, const CompileOptions& opts,
                  const std::string& what, passes::QuantContext* quant = nullptr,
                  passes::StreamContext* stream = nullptr);

// Streaming (--stream): the (possibly quantized) full graph in c is cut into the per-frame
// backbone and the head (stream-split); each is emitted as a model of its own (<name>_frame,
// <name>_head) sharing one arena, the glue <name> runs them over the feature ring, and the
// build's memory report and fit check cover both, the ring and (learning on the ring) the
// head's training state. `extra` files are added to the output.
Compilation compile_stream(Compilation c, const Target& target, const std::vector<backends::GeneratedFile>& extra,
                           const CompileOptions& opts);

}  // namespace tinyodlc::driver_detail
