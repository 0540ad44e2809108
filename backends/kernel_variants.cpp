#include "backends/kernel_variants.h"

#include <cstdlib>
#include <vector>

#include "tinyodlc/armv7em/int8.h"

namespace tinyodlc::backends {
namespace {

using ir::KernelArg;

bool lit_i32(const ir::KernelCall& c, size_t i, int32_t* v) {
  if (i >= c.args.size() || c.args[i].kind != KernelArg::Kind::Literal) return false;
  char* end = nullptr;
  const long long x = std::strtoll(c.args[i].literal.c_str(), &end, 10);
  if (!end || *end || x < INT32_MIN || x > INT32_MAX) return false;
  *v = static_cast<int32_t>(x);
  return true;
}

const int32_t* ints3(const ir::KernelCall& c, size_t i) {
  if (i >= c.args.size() || c.args[i].kind != KernelArg::Kind::IntArray || c.args[i].ints.size() != 3) return nullptr;
  return c.args[i].ints.data();
}

void to_variant(ir::KernelCall& c, const char* header, const char* callee, size_t scratch) {
  c.header = header;
  c.callee = callee;
  KernelArg s;
  s.kind = KernelArg::Kind::Scratch;
  c.args.push_back(s);
  c.scratch_bytes = scratch;
}

// tinyodlc::ref::qconv_s8(x, w, bias, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp,
// strides, dilations, pads, x_zp, y_zp, mult, shift, n_mult, act_min, act_max)
bool armv7em_qconv(ir::KernelCall& c) {
  if (c.args.size() != 21) return false;
  int32_t c_in, c_out, group, x_zp;
  const int32_t *in_sp = ints3(c, 8), *k_sp = ints3(c, 9), *out_sp = ints3(c, 10), *st = ints3(c, 11),
                *dil = ints3(c, 12);
  if (!lit_i32(c, 5, &c_in) || !lit_i32(c, 6, &c_out) || !lit_i32(c, 7, &group) || !lit_i32(c, 14, &x_zp) || !in_sp ||
      !k_sp || !out_sp || !st || !dil || x_zp < -128 || x_zp > 127)
    return false;
  const int32_t bytes = armv7em::qconv_s8_scratch_bytes(c_in, c_out, group, in_sp, k_sp, out_sp, st, dil);
  to_variant(c, "tinyodlc/armv7em/int8.h", "tinyodlc::armv7em::qconv_s8", static_cast<size_t>(bytes));
  return true;
}

// tinyodlc::ref::qmatmul_s8(a, b, bias, y, batch_rank, batch_dims, a_strides, b_strides, M,
// N, K, a_zp, b_zp, y_zp, mult, shift, n_mult, act_min, act_max)
bool armv7em_qmatmul(ir::KernelCall& c) {
  if (c.args.size() != 19) return false;
  int32_t M, N, K, a_zp;
  if (!lit_i32(c, 8, &M) || !lit_i32(c, 9, &N) || !lit_i32(c, 10, &K) || !lit_i32(c, 11, &a_zp) || a_zp < -128 ||
      a_zp > 127)
    return false;
  to_variant(c, "tinyodlc/armv7em/int8.h", "tinyodlc::armv7em::qmatmul_s8",
             static_cast<size_t>(armv7em::qmatmul_s8_scratch_bytes(M, N, K)));
  return true;
}

// tinyodlc::ref::conv<float>(x, w, b, y, batch, c_in, c_out, group, in_sp, k_sp, out_sp,
// strides, dilations, pads) -> tinyodlc::opt::conv_f32<KH, KW, SH, SW>(same arguments): 1-D and
// 2-D convs (depth 1), dilation 1, dense (group 1) or depthwise (one input channel per group).
// Portable C++ (kernels/tinyodlc/opt/conv_f32.h), bit-identical with the reference.
bool opt_conv_f32(ir::KernelCall& c) {
  if (c.args.size() != 14) return false;
  int32_t c_in, c_out, group;
  const int32_t *in_sp = ints3(c, 8), *k_sp = ints3(c, 9), *out_sp = ints3(c, 10), *st = ints3(c, 11),
                *dil = ints3(c, 12), *pads = ints3(c, 13);
  if (!lit_i32(c, 5, &c_in) || !lit_i32(c, 6, &c_out) || !lit_i32(c, 7, &group) || !in_sp || !k_sp || !out_sp ||
      !st || !dil || !pads || group <= 0)
    return false;
  if (in_sp[0] != 1 || out_sp[0] != 1 || k_sp[0] != 1 || pads[0] != 0 || dil[0] != 1 || dil[1] != 1 || dil[2] != 1)
    return false;
  if (group != 1 && c_in / group != 1) return false;  // grouped, not depthwise: reference
  // Template instantiations stay small: the depthwise path keeps KH*KW weights in registers.
  if (k_sp[1] < 1 || k_sp[2] < 1 || k_sp[1] > 16 || k_sp[2] > 16 || st[1] < 1 || st[2] < 1 || st[1] > 8 ||
      st[2] > 8)
    return false;
  c.header = "tinyodlc/opt/conv_f32.h";
  c.callee = "tinyodlc::opt::conv_f32<" + std::to_string(k_sp[1]) + ", " + std::to_string(k_sp[2]) + ", " +
             std::to_string(st[1]) + ", " + std::to_string(st[2]) + ">";
  return true;
}

// tinyodlc::ref::max_pool<T>(x, y, indices, nc, in_sp, k_sp, out_sp, strides, dilations, pads,
// storage_order) -> tinyodlc::opt::max_pool_2d<T, KH, KW, SH, SW>(same arguments): 1-D/2-D,
// dilation 1, no Indices output (kernels/tinyodlc/opt/pool.h, bit-identical, any T); int8 2x2
// stride 2 -> tinyodlc::armv7em::max_pool_2x2s2_s8 (same arguments).
bool opt_max_pool(ir::KernelCall& c, const std::string& type) {
  if (c.args.size() != 11 || c.args[2].kind != KernelArg::Kind::Null) return false;
  const int32_t *in_sp = ints3(c, 4), *k_sp = ints3(c, 5), *out_sp = ints3(c, 6), *st = ints3(c, 7),
                *dil = ints3(c, 8), *pads = ints3(c, 9);
  if (!in_sp || !k_sp || !out_sp || !st || !dil || !pads) return false;
  if (in_sp[0] != 1 || out_sp[0] != 1 || k_sp[0] != 1 || pads[0] != 0 || dil[1] != 1 || dil[2] != 1) return false;
  if (k_sp[1] < 1 || k_sp[2] < 1 || k_sp[1] > 8 || k_sp[2] > 8 || st[1] < 1 || st[2] < 1 || st[1] > 8 || st[2] > 8)
    return false;
  if (type == "int8_t" && k_sp[1] == 2 && k_sp[2] == 2 && st[1] == 2 && st[2] == 2) {
    // DSP bytewise maximum (kernels/tinyodlc/armv7em/pool.h; falls back to opt for padding).
    c.header = "tinyodlc/armv7em/pool.h";
    c.callee = "tinyodlc::armv7em::max_pool_2x2s2_s8";
    return true;
  }
  c.header = "tinyodlc/opt/pool.h";
  c.callee = "tinyodlc::opt::max_pool_2d<" + type + ", " + std::to_string(k_sp[1]) + ", " + std::to_string(k_sp[2]) +
             ", " + std::to_string(st[1]) + ", " + std::to_string(st[2]) + ">";
  return true;
}

}  // namespace

std::string default_isa_of_core(const std::string& core) {
  return core == "cortex-m4" || core == "cortex-m7" ? "armv7em" : "";
}

bool is_known_isa(const std::string& isa) { return isa.empty() || isa == "none" || isa == "armv7em"; }

bool apply_kernel_variant(ir::KernelCall& call, const std::string& isa) {
  if (isa != "armv7em") return false;
  if (call.callee == "tinyodlc::ref::qconv_s8") return armv7em_qconv(call);
  if (call.callee == "tinyodlc::ref::qmatmul_s8") return armv7em_qmatmul(call);
  // QMul / QAdd / QSub: the same arguments, no scratch (one-product requantization).
  for (const char* op : {"qmul_s8", "qadd_s8", "qsub_s8"})
    if (call.callee == std::string("tinyodlc::ref::") + op) {
      call.header = "tinyodlc/armv7em/int8.h";
      call.callee = std::string("tinyodlc::armv7em::") + op;
      return true;
    }
  if (call.callee == "tinyodlc::ref::conv<float>") return opt_conv_f32(call);
  // QuantizeLinear: the same arguments, no floor/fmod calls (kernels/tinyodlc/opt/quant.h).
  for (const char* t : {"int8_t", "uint8_t", "int16_t", "uint16_t"})
    if (call.callee == std::string("tinyodlc::ref::quantize_linear<") + t + ">") {
      call.header = "tinyodlc/opt/quant.h";
      call.callee = std::string("tinyodlc::opt::quantize_linear<") + t + ">";
      return true;
    }
  for (const char* t : {"float", "int8_t", "uint8_t"})
    if (call.callee == std::string("tinyodlc::ref::max_pool<") + t + ">") return opt_max_pool(call, t);
  return false;
}

}  // namespace tinyodlc::backends
