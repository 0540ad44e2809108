#include "ir/graph.h"

#include <algorithm>
#include <cstring>
#include <queue>
#include <set>

#include <fmt/format.h>

#include "ir/op_registry.h"
#include "support/checked.h"

namespace tinyodlc::ir {

int64_t num_elements(const Shape& s) {
  // Shapes are checked against kMaxTensorElements where they are created (set_output, the
  // importer, the parser); this is the backstop for any other path: never wraps.
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw CompileError("", fmt::format("the element count of shape {} overflows 64 bits", shape_str(s)));
  return n;
}

std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

TensorData::TensorData(DType t, Shape s) : dtype(t), shape(std::move(s)) {
  bytes.assign(static_cast<size_t>(checked::tensor_bytes(shape, dtype_size(dtype), "", "tensor")), 0);
}

double TensorData::get_f64(int64_t i) const {
  return dispatch(AllTypes{}, dtype, [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    return static_cast<double>(v);
  });
}

int64_t TensorData::get_i64(int64_t i) const {
  return dispatch(AllTypes{}, dtype, [&](auto tag) -> int64_t {
    using T = typename decltype(tag)::type;
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    return static_cast<int64_t>(v);
  });
}

std::vector<int64_t> TensorData::to_i64() const {
  std::vector<int64_t> r(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) r[i] = get_i64(i);
  return r;
}

std::string Value::type_str() const {
  if (!has_shape) return fmt::format("{}[?]", dtype_name(dtype));
  return fmt::format("{}{}", dtype_name(dtype), shape_str(shape));
}

// ---------------------------------------------------------------------------------------
std::string Node::label() const { return fmt::format("node '{}' ({})", name, op); }

const Attribute* Node::attr(const std::string& n) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? nullptr : &it->second;
}

int64_t Node::attr_int(const std::string& n) const {
  const Attribute* a = attr(n);
  if (!a) fail(*this, fmt::format("required attribute '{}' is missing", n));
  if (a->kind != Attribute::Kind::Int) fail(*this, fmt::format("attribute '{}' must be an int", n));
  return a->i;
}
int64_t Node::attr_int_or(const std::string& n, int64_t dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->kind != Attribute::Kind::Int) fail(*this, fmt::format("attribute '{}' must be an int", n));
  return a->i;
}
float Node::attr_float_or(const std::string& n, float dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->kind == Attribute::Kind::Int) return static_cast<float>(a->i);
  if (a->kind != Attribute::Kind::Float) fail(*this, fmt::format("attribute '{}' must be a float", n));
  return a->f;
}
std::string Node::attr_string_or(const std::string& n, const std::string& dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->kind != Attribute::Kind::String) fail(*this, fmt::format("attribute '{}' must be a string", n));
  return a->s;
}
std::vector<int64_t> Node::attr_ints_or(const std::string& n, std::vector<int64_t> dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->kind != Attribute::Kind::Ints) fail(*this, fmt::format("attribute '{}' must be a list of ints", n));
  return a->ints;
}
std::vector<float> Node::attr_floats_or(const std::string& n, std::vector<float> dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->kind != Attribute::Kind::Floats) fail(*this, fmt::format("attribute '{}' must be a list of floats", n));
  return a->floats;
}

void fail(const Node& n, const std::string& what) { throw CompileError(n.label(), what); }
void fail(const Value& v, const std::string& what) {
  throw CompileError(fmt::format("tensor '{}'", v.name), what);
}
void fail(const std::string& what) { throw CompileError("", what); }

// ---------------------------------------------------------------------------------------
std::string Graph::unique_value_name(const std::string& base) const {
  std::string b = base.empty() ? "t" : base;
  if (!value_by_name_.count(b)) return b;
  for (int k = 1;; ++k) {
    std::string c = fmt::format("{}_{}", b, k);
    if (!value_by_name_.count(c)) return c;
  }
}

std::string Graph::unique_node_name(const std::string& base) const {
  std::string b = base.empty() ? "node" : base;
  if (!node_by_name_.count(b)) return b;
  for (int k = 1;; ++k) {
    std::string c = fmt::format("{}_{}", b, k);
    if (!node_by_name_.count(c)) return c;
  }
}

Value* Graph::add_value(const std::string& name, DType t) {
  auto v = std::make_unique<Value>();
  v->name = unique_value_name(name);
  v->dtype = t;
  Value* p = v.get();
  value_by_name_[p->name] = p;
  values_.push_back(std::move(v));
  return p;
}

Value* Graph::add_value(const std::string& name, DType t, Shape shape) {
  Value* v = add_value(name, t);
  v->shape = std::move(shape);
  v->has_shape = true;
  return v;
}

Value* Graph::add_constant(const std::string& name, std::shared_ptr<const TensorData> data) {
  Value* v = add_value(name, data->dtype, data->shape);
  v->constant = std::move(data);
  return v;
}

Value* Graph::find_value(const std::string& name) const {
  auto it = value_by_name_.find(name);
  return it == value_by_name_.end() ? nullptr : it->second;
}

void Graph::rename(Value* v, const std::string& new_name) {
  if (v->name == new_name) return;
  if (value_by_name_.count(new_name)) fail(*v, fmt::format("cannot rename to '{}': name taken", new_name));
  value_by_name_.erase(v->name);
  v->name = new_name;
  value_by_name_[new_name] = v;
}

Node* Graph::add_node(const std::string& op, std::vector<Value*> ins, std::vector<Value*> outs,
                      std::map<std::string, Attribute> attrs, const std::string& name, const Node* before,
                      const std::string& domain) {
  auto n = std::make_unique<Node>();
  n->op = op;
  n->domain = domain;
  n->name = unique_node_name(name.empty() ? op : name);
  n->inputs = std::move(ins);
  n->outputs = std::move(outs);
  n->attrs = std::move(attrs);
  n->def = OpRegistry::instance().find(domain, op);
  Node* p = n.get();
  for (Value* o : p->outputs)
    if (o) o->producer = p;
  node_by_name_[p->name] = p;
  if (before) {
    auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& x) { return x.get() == before; });
    nodes_.insert(it, std::move(n));
  } else {
    nodes_.push_back(std::move(n));
  }
  return p;
}

void Graph::remove_node(Node* n) {
  for (Value* o : n->outputs)
    if (o && o->producer == n) o->producer = nullptr;
  node_by_name_.erase(n->name);
  nodes_.remove_if([&](const auto& x) { return x.get() == n; });
}

Node* Graph::find_node(const std::string& name) const {
  auto it = node_by_name_.find(name);
  return it == node_by_name_.end() ? nullptr : it->second;
}

std::unordered_map<const Node*, int> Graph::schedule_index() const {
  std::unordered_map<const Node*, int> idx;
  int i = 0;
  for (const auto& n : nodes_) idx[n.get()] = i++;
  return idx;
}

std::vector<Node*> Graph::users(const Value* v) const {
  std::vector<Node*> r;
  for (const auto& n : nodes_)
    for (Value* in : n->inputs)
      if (in == v) {
        r.push_back(n.get());
        break;
      }
  return r;
}

bool Graph::is_graph_output(const Value* v) const {
  return std::find(outputs.begin(), outputs.end(), v) != outputs.end();
}
bool Graph::is_graph_input(const Value* v) const {
  return std::find(inputs.begin(), inputs.end(), v) != inputs.end();
}

void Graph::replace_all_uses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (Value*& in : n->inputs)
      if (in == from) in = to;
  for (Value*& o : outputs)
    if (o == from) o = to;
}

void Graph::remove_dead_values() {
  std::set<const Value*> live(inputs.begin(), inputs.end());
  live.insert(outputs.begin(), outputs.end());
  for (const auto& n : nodes_) {
    for (Value* v : n->inputs) live.insert(v);
    for (Value* v : n->outputs) live.insert(v);
  }
  for (auto it = values_.begin(); it != values_.end();) {
    if (!live.count(it->get())) {
      value_by_name_.erase((*it)->name);
      it = values_.erase(it);
    } else {
      ++it;
    }
  }
}

void Graph::topo_sort() {
  // Kahn's algorithm, choosing among ready nodes the one earliest in the current order.
  std::vector<Node*> order;
  std::unordered_map<const Node*, int> pos;
  for (const auto& n : nodes_) {
    pos[n.get()] = static_cast<int>(order.size());
    order.push_back(n.get());
  }
  std::unordered_map<const Node*, int> pending;
  std::unordered_map<const Node*, std::vector<Node*>> succ;
  for (Node* n : order) {
    std::set<Node*> preds;
    for (Value* in : n->inputs)
      if (in && in->producer && pos.count(in->producer)) preds.insert(in->producer);
    pending[n] = static_cast<int>(preds.size());
    for (Node* p : preds) succ[p].push_back(n);
  }
  auto cmp = [&](Node* a, Node* b) { return pos[a] > pos[b]; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(cmp)> ready(cmp);
  for (Node* n : order)
    if (pending[n] == 0) ready.push(n);
  std::vector<Node*> sorted;
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    sorted.push_back(n);
    for (Node* s : succ[n])
      if (--pending[s] == 0) ready.push(s);
  }
  if (sorted.size() != order.size()) {
    for (Node* n : order)
      if (pending[n] > 0) fail(*n, "the graph has a cycle through this node");
  }
  std::unordered_map<const Node*, size_t> rank;
  for (size_t i = 0; i < sorted.size(); ++i) rank[sorted[i]] = i;
  nodes_.sort([&](const auto& a, const auto& b) { return rank[a.get()] < rank[b.get()]; });
}

std::unique_ptr<Graph> clone_graph(const Graph& g) {
  auto r = std::make_unique<Graph>();
  r->name = g.name;
  r->opset_imports = g.opset_imports;
  std::unordered_map<const Value*, Value*> map;
  for (const auto& v : g.values()) {
    Value* c = r->add_value(v->name, v->dtype, v->shape);
    c->has_shape = v->has_shape;
    c->quant = v->quant;
    c->constant = v->constant;
    c->state = v->state;
    c->state_of = v->state_of;
    c->init = v->init;
    map[v.get()] = c;
  }
  auto m = [&](Value* v) -> Value* { return v ? map.at(v) : nullptr; };
  for (const auto& n : g.nodes()) {
    std::vector<Value*> ins, outs;
    for (Value* v : n->inputs) ins.push_back(m(v));
    for (Value* v : n->outputs) outs.push_back(m(v));
    Node* c = r->add_node(n->op, ins, outs, n->attrs, n->name, nullptr, n->domain);
    c->opset = n->opset;
    c->def = n->def;
  }
  for (Value* v : g.inputs) r->inputs.push_back(m(v));
  for (Value* v : g.outputs) r->outputs.push_back(m(v));
  return r;
}

}  // namespace tinyodlc::ir
