// Per-layer profiling for the QEMU bench: force-included (-include) before the generated model
// code, it turns the TINYODLC_PROFILE_LAYER(index, name) markers the emitter writes before
// every layer into calls of tinyodlc_perf_layer(), whose address the instruction-count plugin
// watches (tools/qemu_insn_plugin.c, layer=ADDR). Without it the markers compile to nothing.
#pragma once

extern "C" void tinyodlc_perf_layer(void);
#define TINYODLC_PROFILE_LAYER(index, name) tinyodlc_perf_layer()
