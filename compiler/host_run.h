// Running the generated code on the host: build it with the host C++ compiler (warnings are
// errors) together with a harness (harness/*.in), run it on raw input files, read the outputs.
#pragma once

#include <string>
#include <vector>

#include "compiler/run.h"

namespace tinyodlc {

// Builds the compiled code with the host C++ compiler in build_dir and runs it on inputs.
std::vector<NamedTensor> run_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                     const RunOptions& ropts, const std::string& build_dir);

// The enrolment build on the host (docs/enrolment.md): enrols the samples `enrol` (each: the
// graph inputs) in class 0, runs the model on `inputs` and scores them against class 0.
std::vector<NamedTensor> run_enrol_on_host(const Compilation& c, const std::vector<std::vector<ir::TensorData>>& enrol,
                                           const std::vector<NamedTensor>& inputs, const RunOptions& ropts,
                                           const std::string& build_dir, EnrolResult& result);

// The training build on the host: invoke() on the inputs, then RunOptions::train_steps
// steps; writes loss.pb, losses.pb, grad_<NAME>.pb, param_<NAME>.pb to outputs_dir.
std::vector<NamedTensor> run_training_on_host(const Compilation& c, const std::vector<NamedTensor>& inputs,
                                              const RunOptions& ropts, const std::string& build_dir);

// The streaming build on the host: pushes the F frames of `clip` ([1, F, ...] along the time
// axis) one by one and runs infer() after each from the T-th on; output k stacks the F - T + 1
// windows' results on a new leading axis.
// An active-learning run on the host: builds harness/target/al_harness.cpp over the stdio shim
// and runs it on the stream and held-out files already in build_dir (al_log.txt, params.bin,
// target_stats.txt land there).
void run_al_on_host(const Compilation& c, const RunOptions& ropts, const std::string& build_dir);
std::vector<NamedTensor> run_stream_on_host(const Compilation& c, const ir::TensorData& clip, const RunOptions& ropts,
                                            const std::string& build_dir);

}  // namespace tinyodlc
