#include "support/json.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "support/error.h"

namespace tinyodlc::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& [k, v] : obj)
    if (k == key) return &v;
  return nullptr;
}

namespace {

class Parser {
 public:
  Parser(const std::string& t, const std::string& src) : t_(t), src_(src) {}

  Value document() {
    Value v = value();
    ws();
    if (i_ != t_.size()) error("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw CompileError(src_, fmt::format("line {}, column {}: {}", line_, i_ - line_start_ + 1, what));
  }
  void ws() {
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '\n') {
        ++line_;
        line_start_ = i_ + 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        break;
      }
      ++i_;
    }
  }
  bool eat(char c) {
    ws();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) error(fmt::format("expected '{}'", c));
  }
  bool word(const char* w) {
    size_t n = std::char_traits<char>::length(w);
    if (t_.compare(i_, n, w) == 0) {
      i_ += n;
      return true;
    }
    return false;
  }
  Value value() {
    if (++depth_ > 64) error("nesting too deep");
    ws();
    if (i_ >= t_.size()) error("unexpected end of input");
    Value v;
    v.line = line_;
    v.col = static_cast<int>(i_ - line_start_ + 1);
    char c = t_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::Kind::Object;
      if (!eat('}')) {
        do {
          ws();
          if (i_ >= t_.size() || t_[i_] != '"') error("expected a string key");
          std::string k = string();
          for (const auto& kv : v.obj)
            if (kv.first == k) error(fmt::format("duplicate key \"{}\"", k));
          expect(':');
          v.obj.emplace_back(std::move(k), value());
        } while (eat(','));
        expect('}');
      }
    } else if (c == '[') {
      ++i_;
      v.kind = Value::Kind::Array;
      if (!eat(']')) {
        do v.arr.push_back(value());
        while (eat(','));
        expect(']');
      }
    } else if (c == '"') {
      v.kind = Value::Kind::String;
      v.str = string();
    } else if (word("true")) {
      v.kind = Value::Kind::Bool;
      v.b = true;
    } else if (word("false")) {
      v.kind = Value::Kind::Bool;
    } else if (word("null")) {
      v.kind = Value::Kind::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t s = i_;
      if (t_[i_] == '-') ++i_;
      while (i_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[i_])) || t_[i_] == '.' || t_[i_] == 'e' ||
                                t_[i_] == 'E' || t_[i_] == '+' || t_[i_] == '-'))
        ++i_;
      v.kind = Value::Kind::Number;
      v.str = t_.substr(s, i_ - s);
      char* end = nullptr;
      v.num = std::strtod(v.str.c_str(), &end);
      if (end != v.str.c_str() + v.str.size() || !std::isfinite(v.num)) error(fmt::format("bad number '{}'", v.str));
    } else {
      error(fmt::format("unexpected character '{}'", c));
    }
    --depth_;
    return v;
  }
  std::string string() {
    ++i_;  // opening quote
    std::string r;
    while (true) {
      if (i_ >= t_.size()) error("unterminated string");
      char c = t_[i_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        r += c;
        continue;
      }
      if (i_ >= t_.size()) error("unterminated string");
      char e = t_[i_++];
      switch (e) {
        case '"': r += '"'; break;
        case '\\': r += '\\'; break;
        case '/': r += '/'; break;
        case 'b': r += '\b'; break;
        case 'f': r += '\f'; break;
        case 'n': r += '\n'; break;
        case 'r': r += '\r'; break;
        case 't': r += '\t'; break;
        case 'u': {
          if (i_ + 4 > t_.size()) error("bad \\u escape");
          unsigned cp = static_cast<unsigned>(std::strtoul(t_.substr(i_, 4).c_str(), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            r += static_cast<char>(cp);
          } else if (cp < 0x800) {
            r += static_cast<char>(0xC0 | (cp >> 6));
            r += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            r += static_cast<char>(0xE0 | (cp >> 12));
            r += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            r += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: error(fmt::format("bad escape '\\{}'", e));
      }
    }
    return r;
  }

  const std::string& t_;
  const std::string& src_;
  size_t i_ = 0, line_start_ = 0;
  int line_ = 1, depth_ = 0;
};

}  // namespace

Value parse(const std::string& text, const std::string& source) { return Parser(text, source).document(); }

std::string quote(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\t': r += "\\t"; break;
      case '\r': r += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) r += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else r += c;
    }
  }
  return r + "\"";
}

// ---- writer ---------------------------------------------------------------------------

void Writer::before_value() {
  if (stack_.empty()) {
    if (!out_.empty()) throw std::logic_error("json::Writer: a second top-level value");
    return;
  }
  Level& l = stack_.back();
  if (l.object && !have_key_) throw std::logic_error("json::Writer: an object member without key()");
  if (l.object) {
    have_key_ = false;  // key() already wrote the separator and the name
    return;
  }
  if (!l.empty) out_ += l.inline_ ? ", " : ",";
  if (!l.inline_) out_ += "\n" + std::string(2 * stack_.size(), ' ');
  l.empty = false;
}

Writer& Writer::key(const std::string& k) {
  if (stack_.empty() || !stack_.back().object) throw std::logic_error("json::Writer: key() outside an object");
  if (have_key_) throw std::logic_error("json::Writer: two keys in a row");
  Level& l = stack_.back();
  if (!l.empty) out_ += l.inline_ ? ", " : ",";
  if (!l.inline_) out_ += "\n" + std::string(2 * stack_.size(), ' ');
  l.empty = false;
  out_ += quote(k) + ": ";
  have_key_ = true;
  return *this;
}

void Writer::open(char c, bool object, bool inline_) {
  before_value();
  out_ += c;
  // A container inside an inline one is inline too.
  stack_.push_back({object, inline_ || (!stack_.empty() && stack_.back().inline_)});
}

void Writer::close(char c, bool object) {
  if (stack_.empty() || stack_.back().object != object || have_key_)
    throw std::logic_error(std::string("json::Writer: unbalanced ") + c);
  const Level l = stack_.back();
  stack_.pop_back();
  if (!l.inline_ && !l.empty) out_ += "\n" + std::string(2 * stack_.size(), ' ');
  out_ += c;
}

Writer& Writer::begin_object(bool inline_) { open('{', true, inline_); return *this; }
Writer& Writer::end_object() { close('}', true); return *this; }
Writer& Writer::begin_array(bool inline_) { open('[', false, inline_); return *this; }
Writer& Writer::end_array() { close(']', false); return *this; }

Writer& Writer::value(const std::string& s) { before_value(); out_ += quote(s); return *this; }
Writer& Writer::value(bool b) { before_value(); out_ += b ? "true" : "false"; return *this; }
Writer& Writer::integer(int64_t v) { before_value(); out_ += std::to_string(v); return *this; }
Writer& Writer::uinteger(uint64_t v) { before_value(); out_ += std::to_string(v); return *this; }
Writer& Writer::null() { before_value(); out_ += "null"; return *this; }
Writer& Writer::raw(const std::string& json) { before_value(); out_ += json; return *this; }

Writer& Writer::value(double v) {
  before_value();
  out_ += std::isfinite(v) ? fmt::format("{}", v) : "null";
  return *this;
}

Writer& Writer::fixed(double v, int decimals) {
  before_value();
  out_ += std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "null";
  return *this;
}

std::string Writer::str() const {
  if (!stack_.empty()) throw std::logic_error("json::Writer: unclosed container");
  return out_ + "\n";
}

}  // namespace tinyodlc::json
