// int8 quantization in the driver: post-training quantization (--quantize int8
// --calibration DIR [--calibration-method M]) and folding of imported QDQ models, plus the
// quantization report (quantization.md / quantization.json). See docs/quantization.md.
#pragma once

#include <string>
#include <vector>

#include "backends/cpp_emitter.h"
#include "ir/graph.h"

namespace tinyodlc {

struct CompileOptions;

// Runs after the default pass pipeline on the optimized graph `g`:
//  - opts.quantize == "int8": calibrates on opts.calibration_dir, rewrites g to QDQ form
//    (passes/quantize.h), folds it into int8 ops (passes/qdq_fold.h) and returns the report
//    files quantization.md / quantization.json;
//  - opts.quantize empty: folds the QDQ patterns of an imported quantized model (if any) and
//    returns no files.
// Throws CompileError on bad options or calibration data.
std::vector<backends::GeneratedFile> apply_quantization(ir::Graph& g, const CompileOptions& opts);

}  // namespace tinyodlc
