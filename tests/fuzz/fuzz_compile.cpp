// libFuzzer target: bytes -> ONNX ModelProto -> import -> default pass pipeline -> C++
// emission (in memory; nothing is written). Built with clang++ -fsanitize=fuzzer,address,
// undefined (tests/fuzz/CMakeLists.txt, scripts/fuzz.sh, docs/robustness.md).
//
// A CompileError is the expected outcome for bad input. Anything else is a finding:
// another exception type (the CLI would print "internal error", exit 4) aborts here so that
// libFuzzer records the input, and the sanitizers abort on memory errors and undefined
// behaviour.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "compiler/driver.h"
#include "frontend/onnx_import.h"
#include "onnx/onnx_pb.h"
#include "support/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) return 0;  // not a protobuf: the CLI's message
  try {
    if (!m.has_graph()) return 0;
    tinyodlc::frontend::ImportOptions io;
    std::unique_ptr<tinyodlc::ir::Graph> g = tinyodlc::frontend::import_onnx_model(m, io);
    if (!tinyodlc::frontend::unsupported_ops(*g).empty()) return 0;  // the driver's error
    tinyodlc::CompileOptions opts;
    opts.model = "fuzz.onnx";
    opts.name = "fuzz";
    tinyodlc::Compilation c = tinyodlc::compile_graph(*g, opts);
    size_t total = 0;
    for (const auto& f : c.emitted.files) total += f.contents.size();
    if (total == 0) std::abort();  // a successful compile emits something
  } catch (const tinyodlc::CompileError&) {
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_compile: internal error (not a CompileError): %s\n", e.what());
    std::abort();
  }
  return 0;
}
