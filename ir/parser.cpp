// Parser of the textual IR (grammar in docs/ir.md): the lexer and the recursive-descent parser.
// Over 500 lines on purpose: the grammar is one unit (lexer state, error positions and the
// value/node tables are shared by every rule), and splitting it would only pass that state
// around between files.
#include "ir/parser.h"

#include "support/checked.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/printer.h"

namespace tinyodlc::ir {

ParseError::ParseError(const std::string& file, int line, int column, const std::string& what,
                       std::string source_line)
    : CompileError(fmt::format("{}:{}:{}", file, line, column), what),
      line_(line),
      column_(column),
      source_line_(std::move(source_line)) {}

namespace {

// ---- lexer ------------------------------------------------------------------------------
enum class Tk {
  Eof, Ident, ValueName, GraphName, Number, String,
  LParen, RParen, LBrace, RBrace, LBracket, RBracket, Less, Greater,
  Comma, Equal, Colon, ColonColon, Arrow, Question, Ellipsis,
};

struct Token {
  Tk kind = Tk::Eof;
  std::string text;  // identifier / number text, or the unescaped name / string contents
  int line = 1;
  int col = 1;
  size_t offset = 0;
};

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '.'; }

std::string line_at(std::string_view src, size_t offset) {
  if (offset > src.size()) offset = src.size();
  size_t b = offset;
  while (b > 0 && src[b - 1] != '\n') --b;
  size_t e = src.find('\n', offset);
  if (e == std::string_view::npos) e = src.size();
  if (e > b && src[e - 1] == '\r') --e;
  return std::string(src.substr(b, e - b));
}

// Contents of the string literal starting at the quote at src[q] (escapes decoded; stops at
// the closing quote or the end of the line).
std::string unescape_at(std::string_view src, size_t q) {
  std::string r;
  for (size_t i = q + 1; i < src.size() && src[i] != '"' && src[i] != '\n'; ++i) {
    if (src[i] != '\\' || i + 1 >= src.size()) {
      r += src[i];
      continue;
    }
    char e = src[++i];
    if (e == 'n') r += '\n';
    else if (e == 't') r += '\t';
    else if (e == 'r') r += '\r';
    else if (e == 'x' && i + 2 < src.size() && is_hex(src[i + 1]) && is_hex(src[i + 2])) {
      r += static_cast<char>(std::stoi(std::string(src.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else r += e;
  }
  return r;
}

// The strings of all `name ( "..." )` sequences outside comments and strings: a cheap
// character-level pre-pass (no tokens are built, so it costs little on large constants).
std::set<std::string> scan_explicit_names(std::string_view src) {
  std::set<std::string> names;
  size_t i = 0, n = src.size();
  auto skip_string = [&](size_t q) {  // q at the opening quote; returns the index after the closing one
    for (++q; q < n && src[q] != '"' && src[q] != '\n'; ++q)
      if (src[q] == '\\') ++q;
    return q + 1;
  };
  auto skip_blank = [&](size_t q) {
    for (;;) {
      while (q < n && (src[q] == ' ' || src[q] == '\t' || src[q] == '\r' || src[q] == '\n')) ++q;
      if (q + 1 < n && src[q] == '/' && src[q + 1] == '/') {
        while (q < n && src[q] != '\n') ++q;
        continue;
      }
      return q;
    }
  };
  while (i < n) {
    char c = src[i];
    if (c == '/' && i + 1 < n && src[i + 1] == '/') {
      while (i < n && src[i] != '\n') ++i;
    } else if (c == '"') {
      i = skip_string(i);
    } else if (is_alpha(c)) {
      size_t b = i;
      while (i < n && is_name_char(src[i])) ++i;
      bool after_sigil = b > 0 && (src[b - 1] == '%' || src[b - 1] == '@');
      if (!after_sigil && src.substr(b, i - b) == "name") {
        size_t q = skip_blank(i);
        if (q < n && src[q] == '(') {
          q = skip_blank(q + 1);
          if (q < n && src[q] == '"') names.insert(unescape_at(src, q));
        }
      }
    } else {
      ++i;
    }
  }
  return names;
}

class Lexer {
 public:
  Lexer(std::string_view src, const std::string& file) : src_(src), file_(file) {}

  Token next_token() {
    {
      skip_space();
      Token t;
      t.line = line_;
      t.col = static_cast<int>(pos_ - line_start_) + 1;
      t.offset = pos_;
      if (pos_ >= src_.size()) {
        t.kind = Tk::Eof;
        return t;
      }
      char c = src_[pos_];
      if (is_alpha(c)) {
        t.kind = Tk::Ident;
        t.text = read_while(is_name_char);
      } else if (c == '%' || c == '@') {
        t.kind = c == '%' ? Tk::ValueName : Tk::GraphName;
        ++pos_;
        if (pos_ < src_.size() && src_[pos_] == '"') t.text = read_string(t);
        else if (pos_ < src_.size() && is_name_char(src_[pos_])) t.text = read_while(is_name_char);
        else error(t, fmt::format("expected a name after '{}'", c));
      } else if (is_digit(c) || (c == '-' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))) {
        t.kind = Tk::Number;
        t.text = read_number();
      } else if (c == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '>') {
        t.kind = Tk::Arrow;
        pos_ += 2;
      } else if (c == '-' && pos_ + 1 < src_.size() && is_alpha(src_[pos_ + 1])) {
        ++pos_;
        t.kind = Tk::Ident;  // -inf, -nan
        t.text = "-" + read_while(is_name_char);
      } else if (c == '"') {
        t.kind = Tk::String;
        t.text = read_string(t);
      } else if (c == ':') {
        bool two = pos_ + 1 < src_.size() && src_[pos_ + 1] == ':';
        t.kind = two ? Tk::ColonColon : Tk::Colon;
        pos_ += two ? 2 : 1;
      } else if (c == '.' && src_.substr(pos_, 3) == "...") {
        t.kind = Tk::Ellipsis;
        pos_ += 3;
      } else {
        static const std::pair<char, Tk> punct[] = {
            {'(', Tk::LParen},   {')', Tk::RParen},  {'{', Tk::LBrace}, {'}', Tk::RBrace},
            {'[', Tk::LBracket}, {']', Tk::RBracket}, {'<', Tk::Less},   {'>', Tk::Greater},
            {',', Tk::Comma},    {'=', Tk::Equal},    {'?', Tk::Question}};
        bool found = false;
        for (const auto& [ch, k] : punct)
          if (c == ch) {
            t.kind = k;
            found = true;
          }
        if (!found) {
          unsigned char u = static_cast<unsigned char>(c);
          error(t, u >= 0x20 && u < 0x7F ? fmt::format("unexpected character '{}'", c)
                                          : fmt::format("unexpected byte 0x{:02X}", u));
        }
        ++pos_;
      }
      return t;
    }
  }

 private:
  [[noreturn]] void error(const Token& at, const std::string& msg) {
    throw ParseError(file_, at.line, at.col, msg, line_at(src_, at.offset));
  }

  void skip_space() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == '\n') {
        ++pos_;
        ++line_;
        line_start_ = pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  template <typename P> std::string read_while(P pred) {
    size_t b = pos_;
    while (pos_ < src_.size() && pred(src_[pos_])) ++pos_;
    return std::string(src_.substr(b, pos_ - b));
  }

  std::string read_number() {
    size_t b = pos_;
    if (src_[pos_] == '-') ++pos_;
    if (src_.substr(pos_, 2) == "0x" || src_.substr(pos_, 2) == "0X") {
      pos_ += 2;
      while (pos_ < src_.size() && is_hex(src_[pos_])) ++pos_;
      return std::string(src_.substr(b, pos_ - b));
    }
    while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
    if (pos_ < src_.size() && src_[pos_] == '.' && src_.substr(pos_, 3) != "...") {
      ++pos_;
      while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t q = pos_ + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && is_digit(src_[q])) {
        pos_ = q;
        while (pos_ < src_.size() && is_digit(src_[pos_])) ++pos_;
      }
    }
    return std::string(src_.substr(b, pos_ - b));
  }

  // At the opening quote; returns the unescaped contents.
  std::string read_string(const Token& start) {
    std::string r;
    ++pos_;
    for (;;) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') error(start, "unterminated string");
      char c = src_[pos_++];
      if (c == '"') return r;
      if (c != '\\') {
        r += c;
        continue;
      }
      if (pos_ >= src_.size()) error(start, "unterminated string");
      char e = src_[pos_++];
      switch (e) {
        case '"': r += '"'; break;
        case '\\': r += '\\'; break;
        case 'n': r += '\n'; break;
        case 't': r += '\t'; break;
        case 'r': r += '\r'; break;
        case 'x': {
          if (pos_ + 2 > src_.size() || !is_hex(src_[pos_]) || !is_hex(src_[pos_ + 1])) {
            Token at = start;
            at.col = static_cast<int>(pos_ - line_start_);
            at.offset = pos_ - 1;
            error(at, "\\x must be followed by two hex digits");
          }
          r += static_cast<char>(std::stoi(std::string(src_.substr(pos_, 2)), nullptr, 16));
          pos_ += 2;
          break;
        }
        default: {
          Token at = start;
          at.col = static_cast<int>(pos_ - 1 - line_start_);
          at.offset = pos_ - 2;
          error(at, fmt::format("unknown escape sequence '\\{}' in string", e));
        }
      }
    }
  }

  std::string_view src_;
  const std::string& file_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

// ---- parser -----------------------------------------------------------------------------
const char* tk_name(Tk k) {
  switch (k) {
    case Tk::Eof: return "end of input";
    case Tk::Ident: return "identifier";
    case Tk::ValueName: return "value name (%name)";
    case Tk::GraphName: return "graph name (@name)";
    case Tk::Number: return "number";
    case Tk::String: return "string";
    case Tk::LParen: return "'('";
    case Tk::RParen: return "')'";
    case Tk::LBrace: return "'{'";
    case Tk::RBrace: return "'}'";
    case Tk::LBracket: return "'['";
    case Tk::RBracket: return "']'";
    case Tk::Less: return "'<'";
    case Tk::Greater: return "'>'";
    case Tk::Comma: return "','";
    case Tk::Equal: return "'='";
    case Tk::Colon: return "':'";
    case Tk::ColonColon: return "'::'";
    case Tk::Arrow: return "'->'";
    case Tk::Question: return "'?'";
    case Tk::Ellipsis: return "'...'";
  }
  return "token";
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tk::Ident: return fmt::format("'{}'", t.text);
    case Tk::Number: return fmt::format("number {}", t.text);
    case Tk::ValueName: return fmt::format("'{}'", print_value_ref(t.text));
    case Tk::GraphName: return fmt::format("'@{}'", t.text);
    case Tk::String: return fmt::format("string {}", quote_string(t.text));
    default: return tk_name(t.kind);
  }
}

bool is_float_text(const std::string& s) {
  if (s.find("0x") != std::string::npos || s.find("0X") != std::string::npos) return false;
  return s.find_first_of(".eE") != std::string::npos;
}

struct TypeSpec {
  DType dtype = DType::Undefined;
  bool has_shape = false;
  Shape shape;
  std::optional<QuantParams> quant;
};

class Parser {
 public:
  Parser(std::string_view src, const std::string& file) : src_(src), file_(file), lexer_(src, file) {}

  std::unique_ptr<Graph> run() {
    g_ = std::make_unique<Graph>();
    // Explicit node names, so that generated names never collide with a later name("...").
    explicit_names_ = scan_explicit_names(src_);

    if (!is_ident("graph")) error(peek(), fmt::format("expected 'graph', got {}", describe(peek())));
    next();
    g_->name = expect(Tk::GraphName, "after 'graph'").text;
    if (is_ident("opset")) parse_opset_imports();
    expect(Tk::LParen, "to start the graph inputs");
    if (!is(Tk::RParen)) {
      do {
        Token vt = expect(Tk::ValueName, "(graph input)");
        expect(Tk::Colon, fmt::format("after graph input {}", print_value_ref(vt.text)).c_str());
        TypeSpec ts = parse_type();
        Value* v = define(vt);
        apply_type(v, ts);
        g_->inputs.push_back(v);
      } while (accept(Tk::Comma));
    }
    expect(Tk::RParen, "after the graph inputs");
    expect(Tk::Arrow, "after the graph inputs");
    expect(Tk::LParen, "to start the graph outputs");
    std::vector<Token> outs;
    if (!is(Tk::RParen)) {
      do outs.push_back(expect(Tk::ValueName, "(graph output)"));
      while (accept(Tk::Comma));
    }
    expect(Tk::RParen, "after the graph outputs");
    expect(Tk::LBrace, "to start the graph body");
    while (!is(Tk::RBrace)) {
      if (is(Tk::Eof)) error(peek(), "expected '}' at the end of the graph body, got end of input");
      parse_statement();
    }
    next();
    if (!is(Tk::Eof)) error(peek(), fmt::format("expected end of input after the graph, got {}", describe(peek())));
    for (const Token& t : outs) g_->outputs.push_back(use(t));

    // Every referenced value must be defined somewhere; report the earliest use.
    const Token* first = nullptr;
    for (const auto& [name, info] : values_)
      if (!info.defined && (!first || info.first_use.offset < first->offset)) first = &info.first_use;
    if (first) error(*first, fmt::format("use of undefined value {}", print_value_ref(first->text)));
    return std::move(g_);
  }

 private:
  struct ValueInfo {
    Value* v = nullptr;
    bool defined = false;
    Token first_use;
    Token def;
  };

  // -- token helpers
  // Lookahead of k tokens (the lexer runs on demand: large constants are never held as tokens).
  const Token& peek(size_t k = 0) {
    while (ahead_.size() <= k) {
      if (!ahead_.empty() && ahead_.back().kind == Tk::Eof) return ahead_.back();
      ahead_.push_back(lexer_.next_token());
    }
    return ahead_[k];
  }
  Token next() {
    peek();
    Token t = std::move(ahead_.front());
    if (t.kind == Tk::Eof) ahead_.front() = t;  // stay at end of input
    else ahead_.pop_front();
    return t;
  }
  bool is(Tk k) { return peek().kind == k; }
  bool is_ident(const char* s, size_t k = 0) { return peek(k).kind == Tk::Ident && peek(k).text == s; }
  bool accept(Tk k) {
    if (!is(k)) return false;
    next();
    return true;
  }
  Token expect(Tk k, const char* context) {
    if (!is(k)) error(peek(), fmt::format("expected {} {}, got {}", tk_name(k), context, describe(peek())));
    return next();
  }
  [[noreturn]] void error(const Token& t, const std::string& msg) const {
    throw ParseError(file_, t.line, t.col, msg, line_at(src_, t.offset));
  }

  // -- values
  Value* use(const Token& t) {
    auto it = values_.find(t.text);
    if (it != values_.end()) return it->second.v;
    ValueInfo info;
    info.v = g_->add_value(t.text);
    info.first_use = t;
    Value* v = info.v;
    values_.emplace(t.text, std::move(info));
    return v;
  }
  Value* define(const Token& t) {
    auto it = values_.find(t.text);
    if (it != values_.end()) {
      if (it->second.defined)
        error(t, fmt::format("redefinition of value {} (first defined at line {})", print_value_ref(t.text),
                             it->second.def.line));
      it->second.defined = true;
      it->second.def = t;
      return it->second.v;
    }
    ValueInfo info;
    info.v = g_->add_value(t.text);
    info.defined = true;
    info.first_use = t;
    info.def = t;
    Value* v = info.v;
    values_.emplace(t.text, std::move(info));
    return v;
  }
  static void apply_type(Value* v, const TypeSpec& ts) {
    v->dtype = ts.dtype;
    v->has_shape = ts.has_shape;
    v->shape = ts.shape;
    v->quant = ts.quant;
  }

  // -- numbers
  int64_t int_of(const Token& t, const char* what, int64_t lo = std::numeric_limits<int64_t>::min(),
                 int64_t hi = std::numeric_limits<int64_t>::max()) const {
    if (t.kind != Tk::Number || is_float_text(t.text) || t.text.find_first_of("xX") != std::string::npos)
      error(t, fmt::format("expected an integer {}, got {}", what, describe(t)));
    int64_t v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size() || v < lo || v > hi)
      error(t, fmt::format("integer {} {} is out of range [{}, {}]", t.text, what, lo, hi));
    return v;
  }
  int64_t parse_int(const char* what, int64_t lo = std::numeric_limits<int64_t>::min(),
                    int64_t hi = std::numeric_limits<int64_t>::max()) {
    int64_t v = int_of(peek(), what, lo, hi);
    next();
    return v;
  }
  // A decimal integer token read as a float (lists that mix integers and floats).
  float float_of(const Token& t) const {
    float v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      error(t, fmt::format("{} is out of range for f32", t.text));
    return v;
  }
  uint64_t parse_u64(const char* what) {
    const Token& t = peek();
    if (t.kind != Tk::Number || is_float_text(t.text) || t.text.find_first_of("xX") != std::string::npos)
      error(t, fmt::format("expected an integer {}, got {}", what, describe(t)));
    uint64_t v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      error(t, fmt::format("integer {} {} is out of range [0, {}]", t.text, what,
                           std::numeric_limits<uint64_t>::max()));
    next();
    return v;
  }

  // Parses `nan(0x...)` after the `nan` identifier; returns the bit pattern.
  uint64_t parse_nan_payload(int bits, uint64_t exp_mask, uint64_t mant_mask) {
    expect(Tk::LParen, "after 'nan'");
    const Token& t = peek();
    if (t.kind != Tk::Number || t.text.size() < 3 || (t.text.substr(0, 2) != "0x" && t.text.substr(0, 2) != "0X"))
      error(t, fmt::format("expected a hexadecimal bit pattern in nan(...), got {}", describe(t)));
    uint64_t v = 0;
    auto r = std::from_chars(t.text.data() + 2, t.text.data() + t.text.size(), v, 16);
    if (r.ec != std::errc() || (bits < 64 && (v >> bits) != 0))
      error(t, fmt::format("nan bit pattern {} does not fit in {} bits", t.text, bits));
    if ((v & exp_mask) != exp_mask || (v & mant_mask) == 0)
      error(t, fmt::format("bit pattern {} is not a NaN", t.text));
    next();
    expect(Tk::RParen, "after the nan bit pattern");
    return v;
  }

  // A floating-point literal; F = float or double. 16-bit floats use F = float.
  template <typename F>
  F parse_floating(const char* what) {
    using Bits = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
    constexpr int kBits = sizeof(F) * 8;
    constexpr Bits kExp = sizeof(F) == 4 ? Bits(0x7F800000u) : Bits(0x7FF0000000000000ull);
    constexpr Bits kMant = sizeof(F) == 4 ? Bits(0x007FFFFFu) : Bits(0x000FFFFFFFFFFFFFull);
    constexpr Bits kQuiet = sizeof(F) == 4 ? Bits(0x7FC00000u) : Bits(0x7FF8000000000000ull);
    constexpr Bits kSign = Bits(1) << (kBits - 1);
    auto from_bits = [](Bits b) {
      F f;
      std::memcpy(&f, &b, sizeof f);
      return f;
    };
    const Token& t = peek();
    if (t.kind == Tk::Number) {
      if (t.text.find_first_of("xX") != std::string::npos)
        error(t, fmt::format("hexadecimal literal {} is not a floating-point value (write NaN payloads as "
                             "nan(0x...))",
                             t.text));
      F v = 0;
      auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
      if (r.ec == std::errc::result_out_of_range)
        error(t, fmt::format("{} is out of range for {}", t.text, sizeof(F) == 4 ? "f32" : "f64"));
      if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
        error(t, fmt::format("invalid number {}", t.text));
      next();
      return v;
    }
    if (t.kind == Tk::Ident) {
      std::string w = t.text;
      if (w == "inf" || w == "-inf" || w == "nan" || w == "-nan") {
        next();
        if (w == "inf") return std::numeric_limits<F>::infinity();
        if (w == "-inf") return -std::numeric_limits<F>::infinity();
        if (w == "-nan") return from_bits(kQuiet | kSign);
        if (!is(Tk::LParen)) return from_bits(kQuiet);
        return from_bits(static_cast<Bits>(parse_nan_payload(kBits, kExp, kMant)));
      }
    }
    error(t, fmt::format("expected a floating-point number {}, got {}", what, describe(t)));
  }

  uint16_t parse_f16(const char* what) {
    if (is_ident("nan") && peek(1).kind == Tk::LParen) {
      next();
      return static_cast<uint16_t>(parse_nan_payload(16, 0x7C00u, 0x03FFu));
    }
    return float_to_half(parse_floating<float>(what));
  }

  // One tensor element of type t, stored at dst.
  void parse_element(DType t, uint8_t* dst) {
    auto store = [&](auto v) { std::memcpy(dst, &v, sizeof v); };
    auto ranged = [&](auto tag) {
      using T = decltype(tag);
      std::string what = fmt::format("(element of type {})", dtype_name(t));
      store(static_cast<T>(parse_int(what.c_str(), std::numeric_limits<T>::min(), std::numeric_limits<T>::max())));
    };
    switch (t) {
      case DType::F32: store(parse_floating<float>("(f32 element)")); return;
      case DType::F64: store(parse_floating<double>("(f64 element)")); return;
      case DType::F16: store(parse_f16("(f16 element)")); return;
      case DType::I8: ranged(int8_t{}); return;
      case DType::U8: ranged(uint8_t{}); return;
      case DType::I16: ranged(int16_t{}); return;
      case DType::U16: ranged(uint16_t{}); return;
      case DType::I32: ranged(int32_t{}); return;
      case DType::U32: ranged(uint32_t{}); return;
      case DType::I64: ranged(int64_t{}); return;
      case DType::U64: store(parse_u64("(element of type u64)")); return;
      case DType::Bool: {
        const Token& tok = peek();
        if (is_ident("true") || (tok.kind == Tk::Number && tok.text == "1")) store(uint8_t{1});
        else if (is_ident("false") || (tok.kind == Tk::Number && tok.text == "0")) store(uint8_t{0});
        else error(tok, fmt::format("expected true or false (bool element), got {}", describe(tok)));
        next();
        return;
      }
      case DType::Undefined: error(peek(), "tensor elements need an element type (not '?')");
    }
  }

  // `dense<[e, ...]>` or the splat form `dense<e>`, for a tensor of the given type.
  std::shared_ptr<TensorData> parse_dense(DType t, const Shape& shape, const Token& type_tok) {
    if (!is_ident("dense")) error(peek(), fmt::format("expected 'dense<...>' tensor data, got {}", describe(peek())));
    next();
    expect(Tk::Less, "after 'dense'");
    if (is(Tk::Ellipsis))
      error(peek(), "tensor data was elided when this IR was printed (--elide-constants-above); elided IR is for "
                    "display only and cannot be parsed");
    int64_t n = 0;
    try {  // the per-tensor bound (support/checked.h), before allocating
      const int64_t es1 = static_cast<int64_t>(std::max<size_t>(dtype_size(t), 1));
      n = checked::tensor_bytes(shape, static_cast<size_t>(es1), "", "tensor of shape") / es1;
    } catch (const CompileError& e) {
      error(type_tok, e.message());
    }
    auto data = std::make_shared<TensorData>(t, shape);
    size_t es = dtype_size(t);
    if (accept(Tk::LBracket)) {
      int64_t i = 0;
      if (!is(Tk::RBracket)) {
        do {
          if (i >= n)
            error(peek(), fmt::format("too many elements: type {}{} has {}", dtype_name(t), shape_str(shape), n));
          parse_element(t, data->bytes.data() + static_cast<size_t>(i) * es);
          ++i;
        } while (accept(Tk::Comma));
      }
      if (i != n)
        error(peek(), fmt::format("expected {} elements for type {}{}, got {}", n, dtype_name(t), shape_str(shape), i));
      expect(Tk::RBracket, "after the tensor elements");
    } else {
      std::vector<uint8_t> one(es ? es : 1);
      parse_element(t, one.data());
      for (int64_t i = 0; i < n; ++i) std::memcpy(data->bytes.data() + static_cast<size_t>(i) * es, one.data(), es);
    }
    expect(Tk::Greater, "to close 'dense<'");
    return data;
  }

  // -- types
  TypeSpec parse_type() {
    TypeSpec ts;
    const Token start = peek();
    if (accept(Tk::Question)) {
      if (!is(Tk::LBracket)) return parse_quant(ts);
    } else if (start.kind == Tk::Ident) {
      ts.dtype = dtype_from_name(start.text);
      if (ts.dtype == DType::Undefined)
        error(start, fmt::format("unknown element type '{}' (expected f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, "
                                 "u64, bool or ?)",
                                 start.text));
      next();
    } else {
      error(start, fmt::format("expected a type such as f32[1,3], got {}", describe(start)));
    }
    expect(Tk::LBracket, "to start the shape");
    if (accept(Tk::Question)) {
      ts.has_shape = false;
    } else {
      ts.has_shape = true;
      if (!is(Tk::RBracket)) {
        do ts.shape.push_back(parse_int("(dimension)", 0));
        while (accept(Tk::Comma));
      }
    }
    expect(Tk::RBracket, "to close the shape");
    if (ts.has_shape && ts.dtype != DType::Undefined) {
      try {
        checked::tensor_bytes(ts.shape, dtype_size(ts.dtype), "", "shape");
      } catch (const CompileError& e) {
        error(start, e.message());
      }
    }
    return parse_quant(ts);
  }

  TypeSpec parse_quant(TypeSpec ts) {
    if (!(is_ident("quant") && peek(1).kind == Tk::Less)) return ts;
    next();
    next();
    QuantParams q;
    std::set<std::string> seen;
    do {
      const Token& key = peek();
      if (key.kind != Tk::Ident || (key.text != "scale" && key.text != "zero_point" && key.text != "axis"))
        error(key, fmt::format("expected scale, zero_point or axis in quant<...>, got {}", describe(key)));
      if (!seen.insert(key.text).second) error(key, fmt::format("duplicate '{}' in quant<...>", key.text));
      std::string k = next().text;
      expect(Tk::Equal, fmt::format("after '{}'", k).c_str());
      if (k == "axis") {
        q.axis = static_cast<int>(parse_int("(quantization axis)", std::numeric_limits<int>::min(),
                                            std::numeric_limits<int>::max()));
        continue;
      }
      expect(Tk::LBracket, fmt::format("to start the {} list", k).c_str());
      if (!is(Tk::RBracket)) {
        do {
          if (k == "scale") q.scale.push_back(parse_floating<float>("(quantization scale)"));
          else
            q.zero_point.push_back(static_cast<int32_t>(parse_int(
                "(zero point)", std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max())));
        } while (accept(Tk::Comma));
      }
      expect(Tk::RBracket, fmt::format("to close the {} list", k).c_str());
    } while (accept(Tk::Comma));
    expect(Tk::Greater, "to close 'quant<'");
    ts.quant = std::move(q);
    return ts;
  }

  // -- header
  void parse_opset_imports() {
    next();
    expect(Tk::LParen, "after 'opset'");
    do {
      std::string domain;
      const Token t = peek();
      if (t.kind == Tk::Ident || t.kind == Tk::String) {
        domain = next().text;
        expect(Tk::Equal, "after the opset domain");
      } else if (t.kind != Tk::Number) {
        error(t, fmt::format("expected an opset version or domain=version, got {}", describe(t)));
      }
      const Token vt = peek();
      int v = static_cast<int>(parse_int("(opset version)", 0, std::numeric_limits<int>::max()));
      if (g_->opset_imports.count(domain))
        error(vt, fmt::format("duplicate opset import for domain '{}'", domain));
      g_->opset_imports[domain] = v;
    } while (accept(Tk::Comma));
    expect(Tk::RParen, "after the opset imports");
  }

  // -- attributes
  Attribute parse_attr_value() {
    const Token& t = peek();
    if (t.kind == Tk::String) return Attribute::String(next().text);
    if (t.kind == Tk::Number) {
      if (is_float_text(t.text)) return Attribute::Float(parse_floating<float>("(attribute)"));
      return Attribute::Int(parse_int("(attribute)"));
    }
    if (t.kind == Tk::Ident && (t.text == "inf" || t.text == "-inf" || t.text == "nan" || t.text == "-nan"))
      return Attribute::Float(parse_floating<float>("(attribute)"));
    if (t.kind == Tk::LBracket) return parse_list("");
    if (t.kind == Tk::Ident && (t.text == "ints" || t.text == "floats" || t.text == "strings") &&
        peek(1).kind == Tk::LBracket)
      return parse_list(next().text);
    if ((t.kind == Tk::Ident || t.kind == Tk::Question) && peek(1).kind == Tk::LBracket) {
      Token type_tok = t;
      TypeSpec ts = parse_type();
      if (!ts.has_shape) error(type_tok, "a tensor attribute needs a shape");
      if (ts.quant) error(type_tok, "a tensor attribute cannot have quantization parameters");
      return Attribute::Tensor(parse_dense(ts.dtype, ts.shape, type_tok));
    }
    error(t, fmt::format("expected an attribute value (number, string, list or tensor), got {}", describe(t)));
  }

  static bool is_float_word(const Token& t) {
    return t.kind == Tk::Ident && (t.text == "inf" || t.text == "-inf" || t.text == "nan" || t.text == "-nan");
  }

  Attribute parse_list(const std::string& kind) {
    const Token open = expect(Tk::LBracket, "to start the list");
    std::string k = kind;
    if (k.empty()) {
      if (is(Tk::RBracket)) error(open, "an empty list needs its kind: write ints[], floats[] or strings[]");
      if (is(Tk::String)) k = "strings";
    }
    Attribute a = k == "ints" ? Attribute::Ints({}) : k == "floats" ? Attribute::Floats({}) : Attribute::Strings({});
    if (k.empty()) {
      // Untyped numbers: Ints unless some element is a float literal. Integer tokens are kept
      // until the kind is known.
      std::vector<std::pair<Token, float>> elems;  // integer token, or float value
      std::vector<bool> deferred;
      bool floats = false;
      do {
        if (peek().kind == Tk::Number && !is_float_text(peek().text)) {
          elems.push_back({next(), 0.0f});
          deferred.push_back(true);
        } else {
          if (peek().kind != Tk::Number && !is_float_word(peek()))
            error(peek(), fmt::format("expected a number (list element), got {}", describe(peek())));
          float f = parse_floating<float>("(list element)");
          elems.push_back({Token{}, f});
          deferred.push_back(false);
          floats = true;
        }
      } while (accept(Tk::Comma));
      expect(Tk::RBracket, "to close the list");
      if (!floats) {
        a = Attribute::Ints({});
        for (auto& e : elems) a.ints.push_back(int_of(e.first, "(list element)"));
        return a;
      }
      a = Attribute::Floats({});
      for (size_t i = 0; i < elems.size(); ++i)
        a.floats.push_back(deferred[i] ? float_of(elems[i].first) : elems[i].second);
      return a;
    }
    if (!is(Tk::RBracket)) {
      do {
        if (k == "ints") a.ints.push_back(parse_int("(list element)"));
        else if (k == "floats") a.floats.push_back(parse_floating<float>("(list element)"));
        else a.strings.push_back(expect(Tk::String, "(list element)").text);
      } while (accept(Tk::Comma));
    }
    expect(Tk::RBracket, "to close the list");
    return a;
  }

  std::map<std::string, Attribute> parse_attr_dict() {
    std::map<std::string, Attribute> attrs;
    expect(Tk::LBrace, "to start the attributes");
    if (accept(Tk::RBrace)) return attrs;
    do {
      const Token& nt = peek();
      if (nt.kind != Tk::Ident && nt.kind != Tk::String)
        error(nt, fmt::format("expected an attribute name, got {}", describe(nt)));
      Token name_tok = next();
      expect(Tk::Equal, fmt::format("after attribute '{}'", name_tok.text).c_str());
      Attribute a = parse_attr_value();
      if (!attrs.emplace(name_tok.text, std::move(a)).second)
        error(name_tok, fmt::format("duplicate attribute '{}'", name_tok.text));
    } while (accept(Tk::Comma));
    expect(Tk::RBrace, "to close the attributes");
    return attrs;
  }

  // -- statements
  void parse_statement() {
    std::vector<std::optional<Token>> results;
    if (is(Tk::ValueName) || is_ident("_")) {
      do {
        if (is(Tk::ValueName)) results.push_back(next());
        else if (is_ident("_")) {
          next();
          results.push_back(std::nullopt);
        } else {
          error(peek(), fmt::format("expected a result name (%name or _), got {}", describe(peek())));
        }
      } while (accept(Tk::Comma));
      expect(Tk::Equal, "after the result names");
      if ((is_ident("constant") || is_ident("param")) && peek(1).kind != Tk::ColonColon) {
        const Token& kw = next();
        if (results.size() != 1 || !results[0]) error(kw, "a constant defines exactly one value");
        parse_constant(*results[0], kw.text == "param");
        return;
      }
    }
    parse_node(results);
  }

  // `%w = constant T dense<...>`, or `%w = param T dense<...>` (a trainable parameter:
  // the data is its initial value).
  void parse_constant(const Token& result, bool param = false) {
    Token type_tok = peek();
    TypeSpec ts = parse_type();
    if (ts.dtype == DType::Undefined) error(type_tok, "a constant needs an element type");
    if (!ts.has_shape) error(type_tok, "a constant needs a shape");
    auto data = parse_dense(ts.dtype, ts.shape, type_tok);
    Value* v = define(result);
    apply_type(v, ts);
    if (param) {
      v->state = Value::State::Param;
      v->init = std::move(data);
    } else {
      v->constant = std::move(data);
    }
  }

  std::string op_part(const Token& t, const char* what) {
    if (t.kind == Tk::String || (t.kind == Tk::Ident && t.text[0] != '-')) return t.text;
    error(t, fmt::format("expected {}, got {}", what, describe(t)));
  }

  void parse_node(const std::vector<std::optional<Token>>& results) {
    std::string domain, op = op_part(next(), "an operator name or 'constant'");
    if (accept(Tk::ColonColon)) {
      domain = op;
      op = op_part(next(), "an operator name after '::'");
    }
    expect(Tk::LParen, fmt::format("after operator '{}'", op).c_str());
    std::vector<Value*> ins;
    if (!is(Tk::RParen)) {
      do {
        if (is(Tk::ValueName)) ins.push_back(use(next()));
        else if (is_ident("_")) {
          next();
          ins.push_back(nullptr);
        } else {
          error(peek(), fmt::format("expected an operand (%name or _ for an omitted input), got {}", describe(peek())));
        }
      } while (accept(Tk::Comma));
    }
    expect(Tk::RParen, "after the operands");
    std::map<std::string, Attribute> attrs;
    if (is(Tk::LBrace)) attrs = parse_attr_dict();
    std::optional<std::string> name;
    Token name_tok;
    int opset = 0;
    bool have_opset = false;
    for (;;) {
      if (is_ident("name") && peek(1).kind == Tk::LParen) {
        const Token& kw = next();
        if (name) error(kw, "duplicate name(...) clause");
        next();
        name_tok = expect(Tk::String, "in name(...)");
        name = name_tok.text;
        expect(Tk::RParen, "to close name(...)");
      } else if (is_ident("opset") && peek(1).kind == Tk::LParen) {
        const Token& kw = next();
        if (have_opset) error(kw, "duplicate opset(...) clause");
        next();
        opset = static_cast<int>(parse_int("(node opset version)", 0, std::numeric_limits<int>::max()));
        have_opset = true;
        expect(Tk::RParen, "to close opset(...)");
      } else {
        break;
      }
    }
    size_t present = 0;
    for (const auto& r : results) present += r.has_value();
    std::vector<TypeSpec> types(present);
    if (is(Tk::Colon)) {
      const Token colon = next();
      if (present == 0) error(colon, "types are given but the node has no results");
      for (size_t k = 0; k < present; ++k) {
        if (k && !accept(Tk::Comma))
          error(colon, fmt::format("expected {} result types (one per result), got {}", present, k));
        types[k] = parse_type();
      }
      if (is(Tk::Comma)) error(peek(), fmt::format("too many result types: the node has {} results", present));
    }
    std::vector<Value*> outs;
    size_t k = 0;
    for (const auto& r : results) {
      if (!r) {
        outs.push_back(nullptr);
        continue;
      }
      Value* v = define(*r);
      apply_type(v, types[k++]);
      outs.push_back(v);
    }
    std::string node_name;
    if (name) {
      if (g_->find_node(*name)) error(name_tok, fmt::format("duplicate node name {}", quote_string(*name)));
      node_name = *name;
    } else {
      std::string base = op.empty() ? "node" : op;
      node_name = base;
      for (int i = 1; g_->find_node(node_name) || explicit_names_.count(node_name); ++i)
        node_name = fmt::format("{}_{}", base, i);
    }
    Node* n = g_->add_node(op, std::move(ins), std::move(outs), std::move(attrs), node_name, nullptr, domain);
    n->opset = opset;
  }

  std::string_view src_;
  const std::string& file_;
  Lexer lexer_;
  std::deque<Token> ahead_;
  std::unique_ptr<Graph> g_;
  std::unordered_map<std::string, ValueInfo> values_;
  std::set<std::string> explicit_names_;
};

}  // namespace

std::unique_ptr<Graph> parse_graph(std::string_view text, const std::string& filename) {
  return Parser(text, filename).run();
}

std::unique_ptr<Graph> parse_graph_file(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return parse_graph(text, "<stdin>");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw CompileError(path, fmt::format("cannot open file: {}", std::strerror(errno)));
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_graph(ss.str(), path);
}

}  // namespace tinyodlc::ir
