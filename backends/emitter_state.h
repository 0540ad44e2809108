// Internal to the C++ backend: the state one emit_cpp() call builds up, shared by the files
// that each do one job (docs/design.md "Backend"):
//   cpp_emitter.cpp     assembly: lowers and plans, fills templates/model.{h,cpp}.in, picks the kernel headers
//   emit_constants.cpp  weights (one const array per constant) and kernel parameter arrays (named, de-duplicated)
//   emit_function.cpp   the body of one entry point (invoke(), the training step) and the arenas
//   emit_training.cpp   training state layout, templates/training*.in, training.json
//   kernel_headers.cpp  the kernel headers a model needs and the parameter names of a kernel
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpp_emitter.h"
#include "backends/persist_emitter.h"
#include "ir/kernel_call.h"

namespace tinyodlc::backends::detail {

// One entry point of the generated code (inference: invoke(); training: the training step).
struct Fn {
  const ir::Graph* g = nullptr;
  std::vector<ir::KernelCall> calls;  // per node (empty callee: elided view)
  MemoryPlan plan;
  std::unordered_map<const ir::Value*, std::string> io_names;
  std::vector<std::string> out_names;
  std::string body;
  int next_tmp = 0;
  bool profile = false;  // TINYODLC_PROFILE_LAYER markers before every layer
};

struct EmitState {
  explicit EmitState(const EmitOptions& o);

  const EmitOptions& opts;
  Fn main, train;
  EmitResult result;
  // C++ expression of every value named so far (shared by the functions: one array per constant).
  std::unordered_map<const ir::Value*, std::string> expr;
  std::unordered_map<const ir::TensorData*, std::string> const_ids;
  // Kernel parameter arrays, each distinct array once (named by finish_param_arrays()).
  struct ParamArray {
    std::string ctype, init;
    size_t count = 0;
    std::vector<std::pair<std::string, std::string>> users;  // (node identifier, kernel parameter name)
  };
  std::vector<ParamArray> param_arrays;
  std::map<std::string, size_t> param_index;  // "ctype {init}" -> param_arrays index
  std::vector<std::string> param_names;
  LearnedStateRegistry learned;                   // learned-state blocks (persistence)
  std::map<std::string, size_t> slot_of;         // trainable parameter -> result.trainable index
  std::set<std::string> globals;                 // names at namespace scope in <name>.cpp
  std::string constants, params, io_dims, state_region;
  // Constant arrays named by name_values(), in order; finish_constants() writes to `constants`
  // those the generated code reads (a constant folded into kernel parameters is not emitted).
  struct ConstDef {
    std::string id, text;
    size_t bytes = 0;   // counted in weight_bytes (0: a RAM array)
    bool always = false;
  };
  std::vector<ConstDef> const_defs;
  // Enrolment + cosine-prototype training: the RAM array of 'loss.prototypes' ("" if none).
  std::string runtime_prototypes;
  size_t arena_total = 0;
  std::vector<std::string> arena_externs;  // --arena-symbol: the firmware's buffers this model uses

  // `base`, or base_1, base_2... so that it is unique among the names at namespace scope.
  std::string unique_global(const std::string& base);
};

// ---- emit_constants.cpp
// The elements of a constant as C++ initializers, 10 per line.
std::string format_elements(const ir::TensorData& t);
// Names the interface values of f and the constants it uses (st.const_defs).
void name_values(EmitState& st, Fn& f);
// Once all code of <name>.cpp is generated (`code`: its parts): appends to st.constants the
// constant arrays whose identifier occurs in `code`, drops the others from weight_bytes.
void finish_constants(EmitState& st, const std::vector<const std::string*>& code);
// A placeholder for the kernel parameter array {values} of type ctype passed as parameter
// `param` of node `node`'s kernel; identical arrays share one placeholder.
std::string param_array(EmitState& st, const std::string& ctype, const std::vector<std::string>& values,
                        const std::string& node, const std::string& param);
// Names the parameter arrays once every call is emitted, writes their definitions to st.params.
// Naming rule: an array used by one call is <node>_<parameter> ("conv1_Conv_pads"); an array
// shared by several calls is named after its values when short ("strides_1_2_2", "ints_1_2_2"
// when the calls name the parameter differently), else after its first user.
void finish_param_arrays(EmitState& st);
// Replaces the placeholders in `text` by the array names.
std::string resolve_param_arrays(const EmitState& st, std::string text);
// A readable C++ identifier for a node name ("/conv1/Conv" -> "conv1_Conv").
std::string node_identifier(const std::string& name);

// ---- emit_function.cpp
void lower_and_plan(Fn& f, const PlanOptions& mem, const std::string& isa);
// The statements of f (pointers into the arena, one kernel call per node, output copies).
std::string function_body(EmitState& st, Fn& f);
// One static arena per memory region, sized for the larger of the functions' plans.
std::string arena_decls(EmitState& st);

// ---- emit_training.cpp
void layout_training_state(EmitState& st);
void reserve_training_state(EmitState& st, PlanOptions& mem);
// Renders templates/training*.in into vars["training_decls"], ["training_defs"], ["state_decl"].
void training_vars(EmitState& st, std::map<std::string, std::string>& vars);
GeneratedFile training_report(const EmitState& st);

// ---- emit_active_learning.cpp (docs/active-learning.md)
// Checks the options against the graphs (precise errors) and reserves the candidate buffer
// and offer output buffers in the training state's RAM region.
void reserve_active_learning(EmitState& st, PlanOptions& mem);
// Renders templates/active_learning.*.in into vars["training_decls"] / ["training_defs"] and
// registers the buffer as a learned-state block.
void active_learning_vars(EmitState& st, std::map<std::string, std::string>& vars);
// active_learning.json: the buffer's RAM and the configuration.
GeneratedFile active_learning_report(const EmitState& st);

// ---- kernel_headers.cpp
// The kernel headers to write next to the generated code: `used` and everything they include.
std::vector<GeneratedFile> kernel_headers(const std::set<std::string>& used);
// The parameter names of the kernel `c` calls, read from its header (empty if not found).
std::vector<std::string> kernel_param_names(const ir::KernelCall& c);

}  // namespace tinyodlc::backends::detail
