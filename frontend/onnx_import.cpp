// ONNX ModelProto -> ir::Graph: the only code that reads ONNX protobuf messages (attributes,
// initializers with sizes validated before allocation, value infos, opset handling).
#include "frontend/onnx_import.h"

#include "support/checked.h"

#include <climits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "support/checked.h"
#include "onnx/onnx_pb.h"  // defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1)

namespace tinyodlc::frontend {

using ir::Attribute;
using ir::CompileError;
using ir::DType;
using ir::Graph;
using ir::Node;
using ir::Shape;
using ir::TensorData;
using ir::Value;

namespace {

// "" and "ai.onnx" name the same (default) domain.
std::string norm_domain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }
std::string domain_label(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

const char* attr_type_name(int t) {
  switch (t) {
    case onnx::AttributeProto::FLOAT: return "FLOAT";
    case onnx::AttributeProto::INT: return "INT";
    case onnx::AttributeProto::STRING: return "STRING";
    case onnx::AttributeProto::TENSOR: return "TENSOR";
    case onnx::AttributeProto::GRAPH: return "GRAPH";
    case onnx::AttributeProto::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case onnx::AttributeProto::TYPE_PROTO: return "TYPE_PROTO";
    case onnx::AttributeProto::FLOATS: return "FLOATS";
    case onnx::AttributeProto::INTS: return "INTS";
    case onnx::AttributeProto::STRINGS: return "STRINGS";
    case onnx::AttributeProto::TENSORS: return "TENSORS";
    case onnx::AttributeProto::GRAPHS: return "GRAPHS";
    case onnx::AttributeProto::SPARSE_TENSORS: return "SPARSE_TENSORS";
    case onnx::AttributeProto::TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}

// The attribute's type; old models may leave `type` unset, then it follows from the field
// that holds the value (UNDEFINED if none does).
int attr_type(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.has_sparse_tensor()) return onnx::AttributeProto::SPARSE_TENSOR;
  if (a.has_tp()) return onnx::AttributeProto::TYPE_PROTO;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return onnx::AttributeProto::INTS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  if (a.tensors_size()) return onnx::AttributeProto::TENSORS;
  if (a.graphs_size()) return onnx::AttributeProto::GRAPHS;
  if (a.sparse_tensors_size()) return onnx::AttributeProto::SPARSE_TENSORS;
  if (a.type_protos_size()) return onnx::AttributeProto::TYPE_PROTOS;
  return onnx::AttributeProto::UNDEFINED;
}

const char* type_kind_name(const onnx::TypeProto& t) {
  switch (t.value_case()) {
    case onnx::TypeProto::kTensorType: return "tensor";
    case onnx::TypeProto::kSequenceType: return "sequence";
    case onnx::TypeProto::kMapType: return "map";
    case onnx::TypeProto::kOptionalType: return "optional";
    case onnx::TypeProto::kSparseTensorType: return "sparse tensor";
    case onnx::TypeProto::kOpaqueType: return "opaque value";
    default: return "value without type";
  }
}

// Drops the payload of a tensor that has been converted (keeps peak memory near one copy of
// the weights when importing large files).
void release_tensor(onnx::TensorProto* t) {
  onnx::TensorProto empty;
  empty.set_name(t->name());
  t->Swap(&empty);
}

// Highest ai.onnx opset accepted: above the newest ONNX release (opset 23 in ONNX 1.18), with
// room for a few future releases, whose ops tinyodlc then treats like the newest it knows.
constexpr int kMaxPlausibleOpset = 30;

class Importer {
 public:
  Importer(const onnx::ModelProto& m, onnx::ModelProto* mut, const ImportOptions& opts)
      : m_(m), gp_(m.graph()), mut_(mut), opts_(opts), g_(std::make_unique<Graph>()) {}

  std::unique_ptr<Graph> run() {
    for (const auto& [name, value] : opts_.dims)
      if (value < 0) throw CompileError("", fmt::format("--dim {}={}: a dimension must not be negative", name, value));
    if (!gp_.name().empty()) g_->name = gp_.name();
    read_opsets();
    read_initializers();
    read_inputs();
    name_nodes();
    define_node_outputs();
    build_nodes();
    read_outputs();
    for (const auto& [name, value] : opts_.dims)
      if (!used_dims_.count(name))
        throw CompileError("", fmt::format("--dim {}={}: the model has no symbolic dimension '{}'{}", name, value, name,
                                           all_dims_.empty() ? "" : fmt::format(" (it has: {})", fmt::join(all_dims_, ", "))));
    g_->topo_sort();
    return std::move(g_);
  }

 private:
  const onnx::ModelProto& m_;
  const onnx::GraphProto& gp_;
  onnx::ModelProto* mut_;  // the same model, when the caller lets us release converted tensors
  const ImportOptions& opts_;
  std::unique_ptr<Graph> g_;
  mutable std::set<std::string> used_dims_, all_dims_;  // symbolic dimensions fixed by --dim / seen in the model

  // Tensor name -> what defines it ("an initializer", "a graph input", "node 'n' (Op)").
  std::unordered_map<std::string, std::string> defined_by_;
  std::unordered_set<std::string> initializer_names_;
  std::vector<std::string> node_names_;           // IR node name per ONNX node
  std::vector<std::vector<Value*>> node_outputs_;  // output values per ONNX node

  bool is_constant_node(const onnx::NodeProto& n) const {
    return n.op_type() == "Constant" && norm_domain(n.domain()).empty();
  }
  std::string node_label(int i) const {
    return fmt::format("node '{}' ({})", node_names_[i], gp_.node(i).op_type());
  }

  void define(const std::string& name, const std::string& by) {
    auto [it, inserted] = defined_by_.emplace(name, by);
    if (!inserted)
      throw CompileError(fmt::format("tensor '{}'", name),
                         fmt::format("is defined more than once: by {} and by {}; ONNX tensor names must be unique",
                                     it->second, by));
  }

  // ---- opset imports -------------------------------------------------------------------
  void read_opsets() {
    for (const auto& op : m_.opset_import()) {
      std::string d = norm_domain(op.domain());
      if (op.version() < 0 || op.version() > INT_MAX)
        throw CompileError("", fmt::format("opset_import of domain '{}' has invalid version {}", domain_label(d),
                                           op.version()));
      int v = static_cast<int>(op.version());
      // The ONNX operator sets are numbered from 1 (opset 1, 2017); 0 is the protobuf default of
      // a missing field. A version far beyond any released one is a corrupt or hostile file.
      if (d.empty() && v == 0)
        throw CompileError("", "opset_import of domain 'ai.onnx' has version 0; ONNX opsets are numbered from 1 "
                               "(the field is probably missing)");
      if (d.empty() && v > kMaxPlausibleOpset)
        throw CompileError("", fmt::format("opset_import of domain 'ai.onnx' has version {}, newer than any ONNX "
                                           "release (tinyodlc accepts up to {})",
                                           v, kMaxPlausibleOpset));
      auto it = g_->opset_imports.find(d);
      if (it != g_->opset_imports.end() && it->second != v)
        throw CompileError("", fmt::format("opset_import lists domain '{}' twice, with versions {} and {}",
                                           domain_label(d), it->second, v));
      g_->opset_imports[d] = v;
    }
  }

  // ---- initializers --------------------------------------------------------------------
  void read_initializers() {
    if (gp_.sparse_initializer_size() > 0)
      throw CompileError(fmt::format("initializer '{}'", gp_.sparse_initializer(0).values().name()),
                         "sparse initializers are not supported");
    for (int i = 0; i < gp_.initializer_size(); ++i) {
      const onnx::TensorProto& t = gp_.initializer(i);
      if (t.name().empty()) throw CompileError("", fmt::format("initializer #{} has no name", i));
      define(t.name(), "an initializer");
      initializer_names_.insert(t.name());
      auto data = std::make_shared<TensorData>(tensor_from_proto(t, fmt::format("initializer '{}'", t.name())));
      g_->add_constant(t.name(), std::move(data));
      if (mut_) release_tensor(mut_->mutable_graph()->mutable_initializer(i));
    }
  }

  // ---- graph inputs --------------------------------------------------------------------
  void read_inputs() {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < gp_.input_size(); ++i) {
      const onnx::ValueInfoProto& vi = gp_.input(i);
      const std::string& name = vi.name();
      if (name.empty()) throw CompileError("", fmt::format("graph input #{} has no name", i));
      if (name.find('\0') != std::string::npos)
        throw CompileError("", fmt::format("graph input #{} has a name containing a NUL byte", i));
      if (!seen.insert(name).second)
        throw CompileError(fmt::format("input '{}'", name), "is listed twice among the graph inputs");
      // Old IR versions list initializers among the inputs: those are constants.
      if (initializer_names_.count(name)) continue;
      define(name, "a graph input");
      DType t = DType::Undefined;
      Shape s = input_shape(vi, t);
      g_->inputs.push_back(g_->add_value(name, t, std::move(s)));
    }
  }

  // Declared dtype and static shape of a graph input; throws if either is missing.
  Shape input_shape(const onnx::ValueInfoProto& vi, DType& dtype) const {
    const std::string& name = vi.name();
    const std::string where = fmt::format("input '{}'", name);
    if (!vi.has_type() || vi.type().value_case() == onnx::TypeProto::VALUE_NOT_SET)
      throw CompileError(where, "has no type");
    if (!vi.type().has_tensor_type())
      throw CompileError(where, fmt::format("has {} type, which is not supported (only tensors are)", type_kind_name(vi.type())));
    const auto& tt = vi.type().tensor_type();
    if (tt.elem_type() == onnx::TensorProto::UNDEFINED) throw CompileError(where, "has no element type");
    dtype = ir::dtype_from_onnx(tt.elem_type());
    if (dtype == DType::Undefined)
      throw CompileError(where, fmt::format("has unsupported element type {}", ir::onnx_type_name(tt.elem_type())));
    if (!tt.has_shape())
      throw CompileError(where, "has no shape (its rank is unknown); tinyodlc needs static input shapes");
    Shape s;
    for (int k = 0; k < tt.shape().dim_size(); ++k) {
      const auto& d = tt.shape().dim(k);
      if (d.has_dim_value()) {
        if (d.dim_value() < 0)
          throw CompileError(where, fmt::format("dimension {} is negative ({})", k, d.dim_value()));
        s.push_back(d.dim_value());
      } else if (d.has_dim_param() && !d.dim_param().empty()) {
        all_dims_.insert(d.dim_param());
        auto it = opts_.dims.find(d.dim_param());
        if (it == opts_.dims.end())
          throw CompileError("", fmt::format("input '{}' has symbolic dimension '{}'; fix it with --dim {}=VALUE", name,
                                             d.dim_param(), d.dim_param()));
        used_dims_.insert(d.dim_param());
        s.push_back(it->second);
      } else {
        throw CompileError(where, fmt::format("dimension {} is unknown (it has neither a value nor a name); "
                                              "tinyodlc needs static input shapes",
                                              k));
      }
    }
    checked::tensor_bytes(s, ir::dtype_size(dtype), where, "shape");
    return s;
  }

  // ---- nodes ---------------------------------------------------------------------------
  void name_nodes() {
    std::unordered_set<std::string> used;
    for (int i = 0; i < gp_.node_size(); ++i) {
      const onnx::NodeProto& n = gp_.node(i);
      if (n.op_type().empty())
        throw CompileError(n.name().empty() ? fmt::format("node #{}", i) : fmt::format("node '{}'", n.name()),
                           "has no op_type");
      std::string base = n.name().empty() ? fmt::format("{}_{}", n.op_type(), i) : n.name();
      std::string name = base;
      for (int k = 1; used.count(name); ++k) name = fmt::format("{}_{}", base, k);
      used.insert(name);
      node_names_.push_back(name);
    }
  }

  // Creates the values of all node outputs (and the constants of Constant nodes) before any
  // node, so that nodes may appear in any order in the file.
  void define_node_outputs() {
    node_outputs_.resize(gp_.node_size());
    for (int i = 0; i < gp_.node_size(); ++i) {
      const onnx::NodeProto& n = gp_.node(i);
      const std::string label = node_label(i);
      if (is_constant_node(n)) {
        if (n.output_size() != 1 || n.output(0).empty()) throw CompileError(label, "must have exactly one output");
        if (n.input_size() != 0) throw CompileError(label, "must not have inputs");
        define(n.output(0), label);
        g_->add_constant(n.output(0), constant_value(i));
        continue;
      }
      std::vector<Value*>& outs = node_outputs_[i];
      for (const std::string& o : n.output()) {
        if (o.empty()) {
          outs.push_back(nullptr);  // omitted optional output
          continue;
        }
        define(o, label);
        outs.push_back(g_->add_value(o));
      }
      while (!outs.empty() && !outs.back()) outs.pop_back();
    }
  }

  // The value of Constant node i.
  std::shared_ptr<TensorData> constant_value(int i) {
    const onnx::NodeProto& n = gp_.node(i);
    const std::string label = node_label(i);
    if (n.attribute_size() != 1)
      throw CompileError(label, fmt::format("must have exactly one value attribute, has {}", n.attribute_size()));
    const onnx::AttributeProto& a = n.attribute(0);
    const std::string& an = a.name();
    const int type = attr_type(a);
    auto expect = [&](int t) {
      if (type != t)
        throw CompileError(label, fmt::format("attribute '{}' must be of type {}, is {}", an, attr_type_name(t),
                                              attr_type_name(type)));
    };
    if (an == "value") {
      expect(onnx::AttributeProto::TENSOR);
      auto data = std::make_shared<TensorData>(tensor_from_proto(a.t(), fmt::format("{}: attribute 'value'", label)));
      if (mut_) release_tensor(mut_->mutable_graph()->mutable_node(i)->mutable_attribute(0)->mutable_t());
      return data;
    }
    if (an == "value_float") {
      expect(onnx::AttributeProto::FLOAT);
      auto data = std::make_shared<TensorData>(DType::F32, Shape{});
      data->data<float>()[0] = a.f();
      return data;
    }
    if (an == "value_floats") {
      expect(onnx::AttributeProto::FLOATS);
      auto data = std::make_shared<TensorData>(DType::F32, Shape{a.floats_size()});
      for (int k = 0; k < a.floats_size(); ++k) data->data<float>()[k] = a.floats(k);
      return data;
    }
    if (an == "value_int") {
      expect(onnx::AttributeProto::INT);
      auto data = std::make_shared<TensorData>(DType::I64, Shape{});
      data->data<int64_t>()[0] = a.i();
      return data;
    }
    if (an == "value_ints") {
      expect(onnx::AttributeProto::INTS);
      auto data = std::make_shared<TensorData>(DType::I64, Shape{a.ints_size()});
      for (int k = 0; k < a.ints_size(); ++k) data->data<int64_t>()[k] = a.ints(k);
      return data;
    }
    if (an == "value_string" || an == "value_strings")
      throw CompileError(label, fmt::format("string constants ('{}') are not supported", an));
    if (an == "sparse_value") throw CompileError(label, "sparse constants ('sparse_value') are not supported");
    throw CompileError(label, fmt::format("unknown attribute '{}' (expected value, value_float, value_floats, "
                                          "value_int or value_ints)",
                                          an));
  }

  Attribute convert_attribute(const onnx::AttributeProto& a, const std::string& label) const {
    const std::string& an = a.name();
    if (!a.ref_attr_name().empty())
      throw CompileError(label, fmt::format("attribute '{}' refers to attribute '{}' of an enclosing function; "
                                            "function bodies are not supported",
                                            an, a.ref_attr_name()));
    const int type = attr_type(a);
    switch (type) {
      case onnx::AttributeProto::FLOAT: return Attribute::Float(a.f());
      case onnx::AttributeProto::INT: return Attribute::Int(a.i());
      case onnx::AttributeProto::STRING: return Attribute::String(a.s());
      case onnx::AttributeProto::FLOATS: return Attribute::Floats({a.floats().begin(), a.floats().end()});
      case onnx::AttributeProto::INTS: return Attribute::Ints({a.ints().begin(), a.ints().end()});
      case onnx::AttributeProto::STRINGS: return Attribute::Strings({a.strings().begin(), a.strings().end()});
      case onnx::AttributeProto::TENSOR:
        return Attribute::Tensor(
            std::make_shared<TensorData>(tensor_from_proto(a.t(), fmt::format("{}: attribute '{}'", label, an))));
      case onnx::AttributeProto::GRAPH:
      case onnx::AttributeProto::GRAPHS:
        throw CompileError(label, fmt::format("attribute '{}' is a subgraph ({}); subgraphs are not supported "
                                              "(control flow such as If, Loop and Scan cannot be compiled)",
                                              an, attr_type_name(type)));
      case onnx::AttributeProto::SPARSE_TENSOR:
      case onnx::AttributeProto::SPARSE_TENSORS:
      case onnx::AttributeProto::TYPE_PROTO:
      case onnx::AttributeProto::TYPE_PROTOS:
      case onnx::AttributeProto::TENSORS:
        throw CompileError(label, fmt::format("attribute '{}' has type {}, which is not supported (only subgraph-free "
                                              "attributes are: ints, floats, strings, tensors and lists of them)",
                                              an, attr_type_name(type)));
      default:
        throw CompileError(label, fmt::format("attribute '{}' has no type and no value", an));
    }
  }

  void build_nodes() {
    for (int i = 0; i < gp_.node_size(); ++i) {
      const onnx::NodeProto& np = gp_.node(i);
      if (is_constant_node(np)) continue;
      const std::string label = node_label(i);
      const std::string domain = norm_domain(np.domain());
      auto op_it = g_->opset_imports.find(domain);
      if (op_it == g_->opset_imports.end())
        throw CompileError(label, fmt::format("its domain '{}' is not listed in the model's opset_import",
                                              domain_label(domain)));

      std::vector<Value*> ins;
      for (const std::string& in : np.input()) {
        if (in.empty()) {
          ins.push_back(nullptr);  // omitted optional input
          continue;
        }
        if (!defined_by_.count(in))
          throw CompileError(label, fmt::format("input '{}' is not defined (not a graph input, initializer, Constant "
                                                "or node output)",
                                                in));
        ins.push_back(g_->find_value(in));
      }
      while (!ins.empty() && !ins.back()) ins.pop_back();

      std::map<std::string, Attribute> attrs;
      for (const auto& a : np.attribute()) {
        if (a.name().empty()) throw CompileError(label, "has an attribute without name");
        if (attrs.count(a.name())) throw CompileError(label, fmt::format("attribute '{}' is given twice", a.name()));
        attrs.emplace(a.name(), convert_attribute(a, label));
      }

      Node* n = g_->add_node(np.op_type(), std::move(ins), node_outputs_[i], std::move(attrs), node_names_[i], nullptr,
                             domain);
      n->opset = op_it->second;
      if (n->def && n->def->canonicalize_import) n->def->canonicalize_import(*n, *g_);
    }
  }

  // ---- graph outputs -------------------------------------------------------------------
  void read_outputs() {
    if (gp_.output_size() == 0)
      throw CompileError("", "the graph has no outputs (an empty graph computes nothing)");
    std::unordered_set<std::string> seen;
    for (int i = 0; i < gp_.output_size(); ++i) {
      const onnx::ValueInfoProto& vi = gp_.output(i);
      const std::string& name = vi.name();
      if (name.empty()) throw CompileError("", fmt::format("graph output #{} has no name", i));
      const std::string where = fmt::format("graph output '{}'", name);
      if (!seen.insert(name).second) throw CompileError(where, "is listed twice among the graph outputs");
      if (!defined_by_.count(name))
        throw CompileError(where, "is not defined (not a graph input, initializer, Constant or node output)");
      Value* v = g_->find_value(name);
      apply_declared_type(vi, v, where);
      g_->outputs.push_back(v);
    }
  }

  // Records the declared dtype (and the shape, if fully known) of a graph output, or checks
  // it against the value when the output is a graph input or a constant.
  void apply_declared_type(const onnx::ValueInfoProto& vi, Value* v, const std::string& where) const {
    if (!vi.has_type() || vi.type().value_case() == onnx::TypeProto::VALUE_NOT_SET) return;
    if (!vi.type().has_tensor_type())
      throw CompileError(where, fmt::format("has {} type, which is not supported (only tensors are)", type_kind_name(vi.type())));
    const auto& tt = vi.type().tensor_type();
    DType dtype = DType::Undefined;
    if (tt.elem_type() != onnx::TensorProto::UNDEFINED) {
      dtype = ir::dtype_from_onnx(tt.elem_type());
      if (dtype == DType::Undefined)
        throw CompileError(where, fmt::format("has unsupported element type {}", ir::onnx_type_name(tt.elem_type())));
    }
    bool full = tt.has_shape();
    Shape s;
    if (full) {
      for (const auto& d : tt.shape().dim()) {
        if (d.has_dim_value() && d.dim_value() >= 0) {
          s.push_back(d.dim_value());
        } else if (d.has_dim_param() && opts_.dims.count(d.dim_param())) {
          used_dims_.insert(d.dim_param());
          s.push_back(opts_.dims.at(d.dim_param()));
        } else {
          full = false;
          break;
        }
      }
    }
    if (v->producer == nullptr) {  // a graph input or a constant: its type is known
      if (dtype != DType::Undefined && dtype != v->dtype)
        throw CompileError(where, fmt::format("is declared with element type {} but the tensor has {}",
                                              ir::onnx_type_name(tt.elem_type()),
                                              ir::onnx_type_name(ir::dtype_to_onnx(v->dtype))));
      if (full && v->has_shape && s != v->shape)
        throw CompileError(where, fmt::format("is declared with shape {} but the tensor has shape {}",
                                              ir::shape_str(s), ir::shape_str(v->shape)));
      return;
    }
    v->dtype = dtype;
    if (full) {
      if (dtype != DType::Undefined) checked::tensor_bytes(s, ir::dtype_size(dtype), where, "declared shape");
      v->shape = std::move(s);
      v->has_shape = true;
    }
  }
};

}  // namespace

std::unique_ptr<Graph> import_onnx_model(const onnx::ModelProto& m, const ImportOptions& opts) {
  if (!m.has_graph()) throw CompileError("", "the model has no graph");
  return Importer(m, nullptr, opts).run();
}

std::unique_ptr<Graph> import_onnx_file(const std::string& path, const ImportOptions& opts) {
  onnx::ModelProto m;
  parse_proto_file(path, "an ONNX model", m);
  if (!m.has_graph())
    throw CompileError(fmt::format("file '{}'", path), "the model has no graph (is this an ONNX model file?)");
  return Importer(m, &m, opts).run();
}

std::vector<std::string> unsupported_ops(const Graph& g) {
  std::vector<std::string> r;
  for (const auto& n : g.nodes())
    if (!n->def) r.push_back(fmt::format("node '{}' ({}, domain {})", n->name, n->op, domain_label(n->domain)));
  return r;
}

}  // namespace tinyodlc::frontend
