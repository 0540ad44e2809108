// The tinyodlc IR: a graph of nodes (operators) connected by values (typed tensors).
//
// - A Value is an SSA tensor: produced by at most one node, or a graph input, or a
//   constant (initializer). It carries a dtype, a static shape, optional constant data
//   (little-endian bytes) and optional quantization parameters.
// - A Node is one operator application: op type (+ domain), named attributes, ordered
//   inputs (nullptr marks an omitted optional input) and outputs.
// - The Graph owns both. Its node list is the execution schedule (kept topologically
//   sorted by the passes).
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/dtype.h"
#include "support/error.h"

namespace tinyodlc::ir {

class Node;
class Graph;
struct OpDef;

using Shape = std::vector<int64_t>;
int64_t num_elements(const Shape& s);
std::string shape_str(const Shape& s);  // "[1,3,224,224]"

// Quantization parameters of a tensor: real = scale * (q - zero_point).
// Per-tensor when scale.size() == 1, per-axis (along `axis`) otherwise.
struct QuantParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  int axis = 0;
  bool operator==(const QuantParams& o) const {
    return scale == o.scale && zero_point == o.zero_point && axis == o.axis;
  }
};

// A dense tensor held by the compiler (constants, evaluation results, I/O files).
struct TensorData {
  DType dtype = DType::Undefined;
  Shape shape;
  std::vector<uint8_t> bytes;  // num_elements(shape) * dtype_size(dtype), little-endian

  TensorData() = default;
  TensorData(DType t, Shape s);  // zero-filled
  int64_t numel() const { return num_elements(shape); }
  template <typename T> T* data() { return reinterpret_cast<T*>(bytes.data()); }
  template <typename T> const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }
  // Element i converted to double / int64 (any numeric dtype or bool).
  double get_f64(int64_t i) const;
  int64_t get_i64(int64_t i) const;
  // All elements as int64 (for shape-like tensors).
  std::vector<int64_t> to_i64() const;
};

class Value {
 public:
  std::string name;
  DType dtype = DType::Undefined;
  Shape shape;
  bool has_shape = false;  // false until shape inference has run (or the type is declared)
  std::optional<QuantParams> quant;
  std::shared_ptr<const TensorData> constant;  // set for initializers/folded constants
  Node* producer = nullptr;

  // On-device learning (docs/training.md). A value with a state other than None lives in a
  // static RAM blob that persists across calls, not in the arena:
  //  - Param: a trainable parameter. No producer, not constant (passes must not fold it);
  //    its initial value (the ONNX initializer) is `init`.
  //  - Grad: the gradient accumulator of the parameter named `state_of`, written (+=) by its
  //    producer (tinyodlc.AccumulateGrad); a root for dead-code elimination.
  enum class State { None, Param, Grad };
  State state = State::None;
  std::string state_of;
  std::shared_ptr<const TensorData> init;

  bool is_constant() const { return constant != nullptr; }
  bool is_param() const { return state == State::Param; }
  int64_t numel() const { return num_elements(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  std::string type_str() const;  // "f32[1,3,8,8]" (or "f32[?]" without shape)
};

struct Attribute {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor };
  Kind kind = Kind::Int;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  std::shared_ptr<const TensorData> t;

  static Attribute Int(int64_t v) { Attribute a; a.kind = Kind::Int; a.i = v; return a; }
  static Attribute Float(float v) { Attribute a; a.kind = Kind::Float; a.f = v; return a; }
  static Attribute String(std::string v) { Attribute a; a.kind = Kind::String; a.s = std::move(v); return a; }
  static Attribute Ints(std::vector<int64_t> v) { Attribute a; a.kind = Kind::Ints; a.ints = std::move(v); return a; }
  static Attribute Floats(std::vector<float> v) { Attribute a; a.kind = Kind::Floats; a.floats = std::move(v); return a; }
  static Attribute Strings(std::vector<std::string> v) { Attribute a; a.kind = Kind::Strings; a.strings = std::move(v); return a; }
  static Attribute Tensor(std::shared_ptr<const TensorData> v) { Attribute a; a.kind = Kind::Tensor; a.t = std::move(v); return a; }
};

class Node {
 public:
  std::string op;      // "Conv"
  std::string domain;  // "" = ai.onnx; "tinyodlc" for compiler-internal ops
  std::string name;    // unique within the graph
  int opset = 0;       // opset version of `domain` the node was imported at (0 = newest)
  std::vector<Value*> inputs;   // nullptr = omitted optional input
  std::vector<Value*> outputs;  // nullptr = omitted optional output
  std::map<std::string, Attribute> attrs;

  // Operator definition, resolved by Graph::add_node (nullptr for unknown ops).
  const OpDef* def = nullptr;

  // Attribute accessors. The *_or forms return the default when absent; the plain forms
  // throw a CompileError naming this node when the attribute is missing or mistyped.
  bool has_attr(const std::string& n) const { return attrs.count(n) != 0; }
  int64_t attr_int(const std::string& n) const;
  int64_t attr_int_or(const std::string& n, int64_t dflt) const;
  float attr_float_or(const std::string& n, float dflt) const;
  std::string attr_string_or(const std::string& n, const std::string& dflt) const;
  std::vector<int64_t> attr_ints_or(const std::string& n, std::vector<int64_t> dflt) const;
  std::vector<float> attr_floats_or(const std::string& n, std::vector<float> dflt) const;
  const Attribute* attr(const std::string& n) const;

  // Input k, or nullptr if absent / out of range.
  Value* input(size_t k) const { return k < inputs.size() ? inputs[k] : nullptr; }
  Value* output(size_t k) const { return k < outputs.size() ? outputs[k] : nullptr; }
  std::string label() const;  // "node 'name' (Op)"
};

// A node needs the data of a value at compile time (e.g. Reshape's target shape) but the
// value is not constant. Drivers may recover by specializing a graph input to known data.
class ConstantRequired : public CompileError {
 public:
  ConstantRequired(std::string where, const std::string& what, std::string value)
      : CompileError(std::move(where), what), value_(std::move(value)) {}
  const std::string& value_name() const { return value_; }

 private:
  std::string value_;
};

[[noreturn]] void fail(const Node& n, const std::string& what);
[[noreturn]] void fail(const Value& v, const std::string& what);
[[noreturn]] void fail(const std::string& what);

class Graph {
 public:
  std::string name = "model";
  std::vector<Value*> inputs;   // graph inputs, in order (non-constant)
  std::vector<Value*> outputs;  // graph outputs, in order
  std::map<std::string, int> opset_imports;  // domain -> version, as imported

  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Values ------------------------------------------------------------------------------
  // Creates a value; the name is made unique if taken (suffix _1, _2, ...).
  Value* add_value(const std::string& name, DType t = DType::Undefined);
  Value* add_value(const std::string& name, DType t, Shape shape);
  Value* add_constant(const std::string& name, std::shared_ptr<const TensorData> data);
  Value* find_value(const std::string& name) const;
  const std::list<std::unique_ptr<Value>>& values() const { return values_; }
  // Renames a value (the new name must be unused).
  void rename(Value* v, const std::string& new_name);

  // Nodes -------------------------------------------------------------------------------
  // Appends a node to the schedule, or inserts it before `before`. The op is resolved in
  // the op registry; outputs get `producer` set.
  Node* add_node(const std::string& op, std::vector<Value*> inputs, std::vector<Value*> outputs,
                 std::map<std::string, Attribute> attrs = {}, const std::string& name = "",
                 const Node* before = nullptr, const std::string& domain = "");
  void remove_node(Node* n);  // the node's outputs lose their producer
  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  Node* find_node(const std::string& name) const;
  // Index of each node in the schedule.
  std::unordered_map<const Node*, int> schedule_index() const;

  // Use-def ----------------------------------------------------------------------------
  std::vector<Node*> users(const Value* v) const;
  bool is_graph_output(const Value* v) const;
  bool is_graph_input(const Value* v) const;
  // Replaces every use of `from` (node inputs and graph outputs) by `to`.
  void replace_all_uses(Value* from, Value* to);
  // Removes values that are neither used, produced, nor graph inputs/outputs.
  void remove_dead_values();

  // Reorders nodes topologically (stable with respect to the current order). Throws a
  // CompileError naming a node on a cycle if there is one.
  void topo_sort();

  std::string unique_value_name(const std::string& base) const;
  std::string unique_node_name(const std::string& base) const;

 private:
  std::list<std::unique_ptr<Value>> values_;
  std::list<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, Value*> value_by_name_;
  std::unordered_map<std::string, Node*> node_by_name_;
};

// A deep copy of g (values, nodes, schedule, interface). Constant and initial data are shared
// (immutable), so the backend can tell that two graphs use the same weights.
std::unique_ptr<Graph> clone_graph(const Graph& g);

}  // namespace tinyodlc::ir
