/* tinyodlc instruction-count plugin for qemu-system-arm 7.2 (TCG plugin API version 1).
 *
 * Counts guest instructions exactly between calls of marker functions in the firmware:
 *   start=ADDR   address of tinyodlc_perf_begin (a region starts when it is entered)
 *   stop=ADDR    address of tinyodlc_perf_end   (the region ends when it is entered)
 *   layer=ADDR   optional: address of tinyodlc_perf_layer (splits a region into segments)
 *   out=FILE     where the report goes (default: stderr)
 * Report, one line per region, in execution order:
 *   region K insns N
 *   region K segments S0 S1 ...       (only if layer markers were hit inside the region)
 *   total insns N
 * The count is deterministic: TCG executes the same instruction stream on every run.
 *
 * Debian ships no qemu-plugin.h, so the few API functions used are declared here with the
 * signatures of QEMU 7.2 (include/qemu/qemu-plugin.h). QEMU 9 (API v2) changed the inline
 * counters; port this file if CI moves to a newer QEMU.
 * Built by CMake as a host shared library (no QEMU headers or libraries needed). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
struct qemu_plugin_insn* qemu_plugin_tb_get_insn(const struct qemu_plugin_tb* tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn* insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn* insn, enum qemu_plugin_op op, void* ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn* insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void* userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);

EXPORT int qemu_plugin_version = 1;

static uint64_t g_count;  /* instructions executed so far */
static uint64_t g_start_pc = UINT64_MAX, g_stop_pc = UINT64_MAX, g_layer_pc = UINT64_MAX;
static char* g_out_path;

static int g_in_region;
static uint64_t g_region_start, g_segment_start;
static char* g_report;      /* accumulated report text */
static size_t g_report_len, g_report_cap;
static char* g_segments;    /* segment counts of the current region */
static size_t g_segments_len, g_segments_cap;
static int g_nsegments;
static unsigned g_nregions;

static void append(char** buf, size_t* len, size_t* cap, const char* text) {
  size_t n = strlen(text);
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap * 2 : 4096;
    while (c < *len + n + 1) c *= 2;
    char* p = realloc(*buf, c);
    if (!p) return;
    *buf = p;
    *cap = c;
  }
  memcpy(*buf + *len, text, n + 1);
  *len += n;
}

static void add_segment(void) {
  char t[32];
  snprintf(t, sizeof t, " %" PRIu64, g_count - g_segment_start);
  append(&g_segments, &g_segments_len, &g_segments_cap, t);
  ++g_nsegments;
  g_segment_start = g_count;
}

static void on_start(unsigned int vcpu, void* u) {
  (void)vcpu;
  (void)u;
  g_in_region = 1;
  g_region_start = g_segment_start = g_count;
  g_segments_len = 0;
  g_nsegments = 0;
}

static void on_layer(unsigned int vcpu, void* u) {
  (void)vcpu;
  (void)u;
  if (g_in_region) add_segment();
}

static void on_stop(unsigned int vcpu, void* u) {
  (void)vcpu;
  (void)u;
  if (!g_in_region) return;
  char line[96];
  snprintf(line, sizeof line, "region %u insns %" PRIu64 "\n", g_nregions, g_count - g_region_start);
  append(&g_report, &g_report_len, &g_report_cap, line);
  if (g_nsegments > 0) {
    add_segment();
    snprintf(line, sizeof line, "region %u segments", g_nregions);
    append(&g_report, &g_report_len, &g_report_cap, line);
    append(&g_report, &g_report_len, &g_report_cap, g_segments);
    append(&g_report, &g_report_len, &g_report_cap, "\n");
  }
  g_in_region = 0;
  ++g_nregions;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t pc = qemu_plugin_insn_vaddr(insn);
    /* Markers first: they see the count before their own first instruction. */
    if (pc == g_start_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
    if (pc == g_layer_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_layer, QEMU_PLUGIN_CB_NO_REGS, NULL);
    if (pc == g_stop_pc) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &g_count, 1);
  }
}

static void on_exit_cb(qemu_plugin_id_t id, void* u) {
  (void)id;
  (void)u;
  char line[64];
  snprintf(line, sizeof line, "total insns %" PRIu64 "\n", g_count);
  append(&g_report, &g_report_len, &g_report_cap, line);
  FILE* f = g_out_path ? fopen(g_out_path, "w") : stderr;
  if (!f) {
    fprintf(stderr, "qemu_insn_plugin: cannot write %s\n", g_out_path);
    return;
  }
  if (g_report) fputs(g_report, f);
  if (f != stderr) fclose(f);
}

static int parse_addr(const char* s, uint64_t* out) {
  char* end = NULL;
  unsigned long long v = strtoull(s, &end, 0);
  if (!end || *end) return -1;
  *out = (uint64_t)v & ~(uint64_t)1; /* Thumb symbols have bit 0 set */
  return 0;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc, char** argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    int bad = 0;
    if (!strncmp(a, "start=", 6)) bad = parse_addr(a + 6, &g_start_pc);
    else if (!strncmp(a, "stop=", 5)) bad = parse_addr(a + 5, &g_stop_pc);
    else if (!strncmp(a, "layer=", 6)) bad = parse_addr(a + 6, &g_layer_pc);
    else if (!strncmp(a, "out=", 4)) g_out_path = strdup(a + 4);
    else bad = -1;
    if (bad) {
      fprintf(stderr, "qemu_insn_plugin: bad argument '%s' (expected start=ADDR stop=ADDR [layer=ADDR] [out=FILE])\n", a);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
  qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
  return 0;
}
