// Kernel variants per instruction set (docs/performance.md): an op's `lower` always describes
// the call of its portable reference kernel (kernels/tinyodlc/ref); for a target whose ISA
// has optimized kernels (kernels/tinyodlc/<isa>/), the emitter swaps in the variant with the
// same parameters (plus, where it needs one, a trailing scratch buffer planned like any other
// kernel scratch). The compiler's own evaluation of the call (KernelCall::run: constant
// folding, calibration) keeps the reference kernel: the variants are bit-exact with it
// (tests/kernels).
#pragma once

#include <string>

#include "ir/kernel_call.h"

namespace tinyodlc::backends {

// The kernel ISA of a core: "armv7em" (ARMv7E-M with the DSP extension: cortex-m4,
// cortex-m7) or "" (reference kernels only: host, cortex-m0plus, ...).
std::string default_isa_of_core(const std::string& core);

// ISAs that have kernel variants ("armv7em"); "" and "none" mean the reference kernels.
bool is_known_isa(const std::string& isa);

// Replaces `call` by its optimized variant for `isa` when there is one; returns whether it did.
bool apply_kernel_variant(ir::KernelCall& call, const std::string& isa);

}  // namespace tinyodlc::backends
