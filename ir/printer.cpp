#include "ir/printer.h"

#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>

namespace tinyodlc::ir {

namespace {

bool is_value_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

// Words the parser gives a meaning to where an op or domain name could stand.
const std::set<std::string>& keywords() {
  static const std::set<std::string> k = {"_", "constant", "param", "name", "opset", "graph", "dense", "quant",
                                          "ints", "floats", "strings", "inf", "nan", "true", "false"};
  return k;
}

bool is_bare_ident(const std::string& s) {
  if (s.empty()) return false;
  char c0 = s[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) return false;
  for (char c : s)
    if (!is_value_name_char(c)) return false;
  return true;
}

// Op, domain and attribute names: bare when identifier-like and not a keyword.
std::string ident_or_quoted(const std::string& s) {
  if (is_bare_ident(s) && !keywords().count(s)) return s;
  return quote_string(s);
}

std::string sym_ref(char sigil, const std::string& name) {
  bool bare = !name.empty();
  for (char c : name)
    if (!is_value_name_char(c)) bare = false;
  return bare ? sigil + name : sigil + quote_string(name);
}

template <typename U>
std::string format_nan(U bits, U canonical, U neg_canonical, int hex_digits) {
  if (bits == canonical) return "nan";
  if (bits == neg_canonical) return "-nan";
  return fmt::format("nan(0x{:0{}X})", bits, hex_digits);
}

std::string add_point(std::string s) {
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string format_f16_bits(uint16_t h) {
  if ((h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0)
    return format_nan<uint16_t>(h, 0x7E00u, 0xFE00u, 4);
  return format_f32(half_to_float(h));
}

void print_element(std::string& out, const TensorData& t, int64_t i) {
  const uint8_t* p = t.bytes.data() + static_cast<size_t>(i) * dtype_size(t.dtype);
  auto load = [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t.dtype) {
    case DType::F32: out += format_f32(load(float{})); break;
    case DType::F64: out += format_f64(load(double{})); break;
    case DType::F16: out += format_f16_bits(load(uint16_t{})); break;
    case DType::I8: out += fmt::format("{}", load(int8_t{})); break;
    case DType::U8: out += fmt::format("{}", load(uint8_t{})); break;
    case DType::I16: out += fmt::format("{}", load(int16_t{})); break;
    case DType::U16: out += fmt::format("{}", load(uint16_t{})); break;
    case DType::I32: out += fmt::format("{}", load(int32_t{})); break;
    case DType::U32: out += fmt::format("{}", load(uint32_t{})); break;
    case DType::I64: out += fmt::format("{}", load(int64_t{})); break;
    case DType::U64: out += fmt::format("{}", load(uint64_t{})); break;
    case DType::Bool: out += *p ? "true" : "false"; break;
    case DType::Undefined: out += "?"; break;
  }
}

std::string tensor_type(DType t, const Shape& s) {
  std::string r = t == DType::Undefined ? std::string("?") : std::string(dtype_name(t));
  return r + shape_str(s);
}

void print_dense(std::string& out, const TensorData& t, const PrintOptions& o) {
  int64_t n = t.numel();
  if (o.elide_constants_above >= 0 && n > o.elide_constants_above) {
    out += "dense<...>";
    return;
  }
  size_t es = dtype_size(t.dtype);
  int64_t avail = es == 0 ? 0 : static_cast<int64_t>(t.bytes.size() / es);
  if (avail > n) avail = n;
  bool splat = avail == n && n >= 1;
  for (int64_t i = 1; splat && i < n; ++i)
    splat = std::memcmp(t.bytes.data(), t.bytes.data() + static_cast<size_t>(i) * es, es) == 0;
  out += "dense<";
  if (splat) {
    print_element(out, t, 0);
  } else {
    out += "[";
    for (int64_t i = 0; i < avail; ++i) {
      if (i) out += ", ";
      print_element(out, t, i);
    }
    out += "]";
  }
  out += ">";
}

template <typename T, typename F>
std::string list(const std::vector<T>& v, F f) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += f(v[i]);
  }
  return s + "]";
}

std::string print_attr(const Attribute& a, const PrintOptions& o) {
  auto i64 = [](int64_t x) { return fmt::format("{}", x); };
  switch (a.kind) {
    case Attribute::Kind::Int: return i64(a.i);
    case Attribute::Kind::Float: return format_f32(a.f);
    case Attribute::Kind::String: return quote_string(a.s);
    case Attribute::Kind::Ints: return a.ints.empty() ? "ints[]" : list(a.ints, i64);
    case Attribute::Kind::Floats: return a.floats.empty() ? "floats[]" : list(a.floats, format_f32);
    case Attribute::Kind::Strings: return a.strings.empty() ? "strings[]" : list(a.strings, quote_string);
    case Attribute::Kind::Tensor: {
      if (!a.t) return "?[0] dense<[]>";
      std::string s = tensor_type(a.t->dtype, a.t->shape) + " ";
      print_dense(s, *a.t, o);
      return s;
    }
  }
  return "?";
}

}  // namespace

std::string quote_string(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\t': r += "\\t"; break;
      case '\r': r += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7F) r += fmt::format("\\x{:02X}", u);
        else r += c;  // printable ASCII and UTF-8 bytes verbatim
    }
  }
  return r + "\"";
}

std::string format_f32(float v) {
  if (std::isnan(v)) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return format_nan<uint32_t>(b, 0x7FC00000u, 0xFFC00000u, 8);
  }
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return add_point(fmt::format("{}", v));
}

std::string format_f64(double v) {
  if (std::isnan(v)) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return format_nan<uint64_t>(b, 0x7FF8000000000000ull, 0xFFF8000000000000ull, 16);
  }
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return add_point(fmt::format("{}", v));
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      uint32_t e = 0;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        ++e;
      }
      mant &= 0x3FFu;
      bits = sign | ((113u - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xFFu;
  uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) {
    if (mant == 0) return static_cast<uint16_t>(sign | 0x7C00u);
    uint32_t m = mant >> 13;
    return static_cast<uint16_t>(sign | 0x7C00u | (m ? m : 0x200u));
  }
  int e = static_cast<int>(exp) - 112;  // half exponent field
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    int shift = 14 - e;
    uint32_t hm = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (hm & 1u))) ++hm;
    return static_cast<uint16_t>(sign | hm);
  }
  uint32_t h = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent (-> inf)
  return static_cast<uint16_t>(h);
}

std::string print_value_ref(const std::string& name) { return sym_ref('%', name); }

std::string print_type(const Value& v) {
  std::string s;
  if (v.dtype == DType::Undefined && !v.has_shape) s = "?";
  else if (!v.has_shape) s = fmt::format("{}[?]", dtype_name(v.dtype));
  else s = tensor_type(v.dtype, v.shape);
  if (v.quant) {
    const QuantParams& q = *v.quant;
    s += fmt::format(" quant<scale = {}, zero_point = {}, axis = {}>", list(q.scale, format_f32),
                     list(q.zero_point, [](int32_t z) { return fmt::format("{}", z); }), q.axis);
  }
  return s;
}

std::string print_node(const Node& n, const PrintOptions& opts) {
  std::string s;
  auto ref = [](const Value* v) { return v ? print_value_ref(v->name) : std::string("_"); };
  if (!n.outputs.empty()) {
    for (size_t k = 0; k < n.outputs.size(); ++k) s += (k ? ", " : "") + ref(n.outputs[k]);
    s += " = ";
  }
  if (!n.domain.empty()) s += ident_or_quoted(n.domain) + "::";
  s += ident_or_quoted(n.op) + "(";
  for (size_t k = 0; k < n.inputs.size(); ++k) s += (k ? ", " : "") + ref(n.inputs[k]);
  s += ")";
  if (!n.attrs.empty()) {
    s += " {";
    bool first = true;
    for (const auto& [name, a] : n.attrs) {
      s += (first ? "" : ", ") + (is_bare_ident(name) ? name : quote_string(name)) + " = " + print_attr(a, opts);
      first = false;
    }
    s += "}";
  }
  s += " name(" + quote_string(n.name) + ")";
  if (n.opset != 0) s += fmt::format(" opset({})", n.opset);
  bool first = true;
  for (const Value* o : n.outputs) {
    if (!o) continue;
    s += (first ? " : " : ", ") + print_type(*o);
    first = false;
  }
  return s;
}

std::string print_graph(const Graph& g, const PrintOptions& opts) {
  std::string s = "graph " + sym_ref('@', g.name);
  if (!g.opset_imports.empty()) {
    s += " opset(";
    bool first = true;
    for (const auto& [domain, version] : g.opset_imports) {
      if (!first) s += ", ";
      first = false;
      if (domain.empty()) s += fmt::format("{}", version);
      else s += fmt::format("{}={}", ident_or_quoted(domain), version);
    }
    s += ")";
  }
  s += " (";
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    const Value* v = g.inputs[k];
    s += (k ? ", " : "") + (v ? print_value_ref(v->name) + ": " + print_type(*v) : std::string("_"));
  }
  s += ") -> (";
  for (size_t k = 0; k < g.outputs.size(); ++k)
    s += (k ? ", " : "") + (g.outputs[k] ? print_value_ref(g.outputs[k]->name) : std::string("_"));
  s += ") {\n";
  for (const auto& v : g.values()) {
    if (!(v->is_constant() || (v->is_param() && v->init)) || v->producer) continue;
    // The data's own dtype/shape are authoritative (they are what gets parsed back).
    const TensorData& data = v->is_param() ? *v->init : *v->constant;
    Value as_data;
    as_data.dtype = data.dtype;
    as_data.shape = data.shape;
    as_data.has_shape = true;
    as_data.quant = v->quant;
    s += "  " + print_value_ref(v->name) + (v->is_param() ? " = param " : " = constant ") + print_type(as_data) + " ";
    print_dense(s, data, opts);
    s += "\n";
  }
  for (const auto& n : g.nodes()) s += "  " + print_node(*n, opts) + "\n";
  s += "}\n";
  return s;
}

}  // namespace tinyodlc::ir
