// Over 500 lines on purpose: one test case per behaviour of one layer (a catalogue read by
// section); splitting it would only scatter the cases of the same OpDefs / importer.
// Tests of the ONNX frontend: TensorProto conversion (all storage forms), .pb tensor files,
// model import (real ONNX node-test models and models built here with the protobuf API), and
// precise errors on malformed or unsupported input.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "frontend/onnx_import.h"
#include "frontend/tensor_proto.h"
#include "ir/op_registry.h"
#include "onnx/onnx_pb.h"

using namespace tinyodlc;
using namespace tinyodlc::ir;
using frontend::ImportOptions;
namespace fs = std::filesystem;

namespace {

const std::string kNodeTests = std::string(TINYODLC_SHARED_DIR) + "/onnx-node-tests/node";

// A per-process scratch directory for model files written by the tests (removed at exit).
struct TmpDir {
  fs::path path = fs::temp_directory_path() / ("tinyodlc_frontend_test_" + std::to_string(::getpid()));
  TmpDir() { fs::create_directories(path); }
  ~TmpDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const fs::path& tmp_dir() {
  static const TmpDir dir;
  return dir.path;
}
std::string tmp_path(const std::string& name) { return (tmp_dir() / name).string(); }

// Runs f, expects a CompileError whose full text contains every string in `parts`;
// returns the text.
template <typename F> std::string expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const CompileError& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected CompileError, got other exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected a CompileError";
  return "";
}

// ---- model building helpers (onnx protobuf API) ---------------------------------------
onnx::ModelProto new_model(int opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("tinyodlc-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// Dims: numeric strings are dim_value, anything else dim_param.
void set_type(onnx::ValueInfoProto* vi, int elem, const std::vector<std::string>& dims, bool with_shape = true) {
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  if (elem) tt->set_elem_type(elem);
  if (!with_shape) return;
  auto* sh = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = sh->add_dim();
    if (!d.empty() && d.find_first_not_of("0123456789") == std::string::npos)
      dim->set_dim_value(std::stoll(d));
    else if (!d.empty())
      dim->set_dim_param(d);
  }
}
onnx::ValueInfoProto* add_input(onnx::ModelProto& m, const std::string& name, int elem,
                                const std::vector<std::string>& dims) {
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name(name);
  set_type(vi, elem, dims);
  return vi;
}
onnx::ValueInfoProto* add_output(onnx::ModelProto& m, const std::string& name, int elem = 0,
                                 const std::vector<std::string>& dims = {}, bool with_shape = false) {
  auto* vi = m.mutable_graph()->add_output();
  vi->set_name(name);
  if (elem || with_shape) set_type(vi, elem, dims, with_shape);
  return vi;
}
onnx::NodeProto* add_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                          const std::vector<std::string>& outs, const std::string& name = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}
onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& vals) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float v : vals) t.add_float_data(v);
  return t;
}
onnx::TensorProto* add_initializer(onnx::ModelProto& m, const onnx::TensorProto& t) {
  auto* p = m.mutable_graph()->add_initializer();
  *p = t;
  return p;
}
std::string write_model(const onnx::ModelProto& m, const std::string& file) {
  std::string path = tmp_path(file);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  EXPECT_TRUE(m.SerializeToOstream(&f));
  return path;
}
// Imports through a file (the path the driver uses).
std::unique_ptr<Graph> import_via_file(const onnx::ModelProto& m, const ImportOptions& opts = {},
                                       const std::string& file = "model.onnx") {
  return frontend::import_onnx_file(write_model(m, file), opts);
}

// A small valid model: y = Relu(x), x: f32[1,4].
onnx::ModelProto relu_model() {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"1", "4"});
  add_node(m, "Relu", {"x"}, {"y"}, "relu");
  add_output(m, "y", onnx::TensorProto::FLOAT, {"1", "4"}, true);
  return m;
}

// Little-endian bytes of values (the independent expectation for raw layouts).
template <typename T> std::vector<uint8_t> le_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> r;
  for (T x : v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof(T));
    for (size_t i = 0; i < sizeof(T); ++i) r.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  return r;
}

onnx::TensorProto typed(int type, std::vector<int64_t> dims) {
  onnx::TensorProto t;
  t.set_name("t");
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
  return t;
}

}  // namespace

// =========================================================================================
// TensorProto -> TensorData
// =========================================================================================
TEST(FrontendTensor, FloatData) {
  auto t = float_tensor("w", {2, 3}, {1.5f, -2.0f, 0.0f, 3.25f, -0.125f, 1e30f});
  TensorData d = frontend::tensor_from_proto(t, "w");
  EXPECT_EQ(d.dtype, DType::F32);
  EXPECT_EQ(d.shape, (Shape{2, 3}));
  EXPECT_EQ(d.bytes, le_bytes<float>({1.5f, -2.0f, 0.0f, 3.25f, -0.125f, 1e30f}));
}

TEST(FrontendTensor, DoubleData) {
  auto t = typed(onnx::TensorProto::DOUBLE, {3});
  for (double v : {0.1, -1e300, 2.0}) t.add_double_data(v);
  TensorData d = frontend::tensor_from_proto(t, "t");
  EXPECT_EQ(d.dtype, DType::F64);
  EXPECT_EQ(d.bytes, le_bytes<double>({0.1, -1e300, 2.0}));
}

TEST(FrontendTensor, Int32DataForSmallTypes) {
  struct Case {
    int type;
    DType dtype;
    std::vector<int32_t> vals;
    std::vector<uint8_t> bytes;
  };
  const Case cases[] = {
      {onnx::TensorProto::INT32, DType::I32, {-5, 70000}, {0xFB, 0xFF, 0xFF, 0xFF, 0x70, 0x11, 0x01, 0x00}},
      {onnx::TensorProto::INT16, DType::I16, {-300, 300}, {0xD4, 0xFE, 0x2C, 0x01}},
      {onnx::TensorProto::INT8, DType::I8, {-128, 127}, {0x80, 0x7F}},
      {onnx::TensorProto::UINT16, DType::U16, {65535, 258}, {0xFF, 0xFF, 0x02, 0x01}},
      {onnx::TensorProto::UINT8, DType::U8, {255, 7}, {0xFF, 0x07}},
      {onnx::TensorProto::BOOL, DType::Bool, {1, 0}, {0x01, 0x00}},
      // float16 bit patterns: 1.0 = 0x3C00, -2.0 = 0xC000
      {onnx::TensorProto::FLOAT16, DType::F16, {0x3C00, 0xC000}, {0x00, 0x3C, 0x00, 0xC0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(onnx_type_name(c.type));
    auto t = typed(c.type, {2});
    for (int32_t v : c.vals) t.add_int32_data(v);
    TensorData d = frontend::tensor_from_proto(t, "t");
    EXPECT_EQ(d.dtype, c.dtype);
    EXPECT_EQ(d.shape, (Shape{2}));
    EXPECT_EQ(d.bytes, c.bytes);
  }
}

TEST(FrontendTensor, Int64AndUint64Data) {
  auto t = typed(onnx::TensorProto::INT64, {2});
  t.add_int64_data(-1);
  t.add_int64_data(int64_t{1} << 40);
  TensorData d = frontend::tensor_from_proto(t, "t");
  EXPECT_EQ(d.dtype, DType::I64);
  EXPECT_EQ(d.bytes, le_bytes<int64_t>({-1, int64_t{1} << 40}));

  auto u32 = typed(onnx::TensorProto::UINT32, {2});
  u32.add_uint64_data(4294967295u);
  u32.add_uint64_data(5);
  d = frontend::tensor_from_proto(u32, "t");
  EXPECT_EQ(d.dtype, DType::U32);
  EXPECT_EQ(d.bytes, le_bytes<uint32_t>({4294967295u, 5}));

  auto u64 = typed(onnx::TensorProto::UINT64, {1});
  u64.add_uint64_data(18446744073709551615ull);
  d = frontend::tensor_from_proto(u64, "t");
  EXPECT_EQ(d.dtype, DType::U64);
  EXPECT_EQ(d.bytes, std::vector<uint8_t>(8, 0xFF));
}

TEST(FrontendTensor, RawDataEveryType) {
  struct Case {
    int type;
    DType dtype;
    std::vector<uint8_t> raw;  // 2 elements
  };
  const Case cases[] = {
      {onnx::TensorProto::FLOAT, DType::F32, le_bytes<float>({1.0f, -7.5f})},
      {onnx::TensorProto::DOUBLE, DType::F64, le_bytes<double>({1.0, -7.5})},
      {onnx::TensorProto::FLOAT16, DType::F16, {0x00, 0x3C, 0x00, 0xC0}},
      {onnx::TensorProto::INT8, DType::I8, {0x80, 0x05}},
      {onnx::TensorProto::UINT8, DType::U8, {0xFF, 0x05}},
      {onnx::TensorProto::INT16, DType::I16, {0x01, 0x80, 0x02, 0x00}},
      {onnx::TensorProto::UINT16, DType::U16, {0x01, 0x80, 0x02, 0x00}},
      {onnx::TensorProto::INT32, DType::I32, le_bytes<int32_t>({-2, 1 << 30})},
      {onnx::TensorProto::UINT32, DType::U32, le_bytes<uint32_t>({0xFFFFFFFFu, 3})},
      {onnx::TensorProto::INT64, DType::I64, le_bytes<int64_t>({-2, int64_t{1} << 60})},
      {onnx::TensorProto::UINT64, DType::U64, le_bytes<uint64_t>({~uint64_t{0}, 3})},
      {onnx::TensorProto::BOOL, DType::Bool, {0x01, 0x00}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(onnx_type_name(c.type));
    auto t = typed(c.type, {2, 1});
    t.set_raw_data(c.raw.data(), c.raw.size());
    TensorData d = frontend::tensor_from_proto(t, "t");
    EXPECT_EQ(d.dtype, c.dtype);
    EXPECT_EQ(d.shape, (Shape{2, 1}));
    EXPECT_EQ(d.bytes, c.raw);
    // And back: raw_data, same type and dims.
    onnx::TensorProto back = frontend::tensor_to_proto(d, "back");
    EXPECT_EQ(back.name(), "back");
    EXPECT_EQ(back.data_type(), c.type);
    ASSERT_EQ(back.dims_size(), 2);
    EXPECT_EQ(back.dims(0), 2);
    EXPECT_EQ(back.dims(1), 1);
    EXPECT_EQ(back.raw_data(), std::string(c.raw.begin(), c.raw.end()));
    EXPECT_EQ(back.float_data_size(), 0);
  }
}

TEST(FrontendTensor, BoolRawDataIsNormalized) {
  auto t = typed(onnx::TensorProto::BOOL, {3});
  t.set_raw_data(std::string("\x00\x02\xff", 3));
  TensorData d = frontend::tensor_from_proto(t, "t");
  EXPECT_EQ(d.bytes, (std::vector<uint8_t>{0, 1, 1}));
}

TEST(FrontendTensor, ScalarsAndZeroSize) {
  // Scalar (no dims), typed and raw.
  auto s = typed(onnx::TensorProto::FLOAT, {});
  s.add_float_data(4.5f);
  TensorData d = frontend::tensor_from_proto(s, "s");
  EXPECT_TRUE(d.shape.empty());
  EXPECT_EQ(d.numel(), 1);
  EXPECT_EQ(d.data<float>()[0], 4.5f);
  auto r = typed(onnx::TensorProto::INT64, {});
  auto rb = le_bytes<int64_t>({-9});
  r.set_raw_data(rb.data(), rb.size());
  d = frontend::tensor_from_proto(r, "r");
  EXPECT_TRUE(d.shape.empty());
  EXPECT_EQ(d.get_i64(0), -9);

  // Zero-size: no data at all, and empty raw_data.
  auto z = typed(onnx::TensorProto::FLOAT, {0, 3});
  d = frontend::tensor_from_proto(z, "z");
  EXPECT_EQ(d.shape, (Shape{0, 3}));
  EXPECT_EQ(d.numel(), 0);
  EXPECT_TRUE(d.bytes.empty());
  z.set_raw_data("");
  d = frontend::tensor_from_proto(z, "z");
  EXPECT_EQ(d.numel(), 0);
  onnx::TensorProto back = frontend::tensor_to_proto(d, "z");
  EXPECT_EQ(back.dims_size(), 2);
  EXPECT_TRUE(back.raw_data().empty());
}

TEST(FrontendTensor, ElementCountMismatch) {
  auto t = float_tensor("w", {2, 3}, {1, 2, 3, 4, 5});
  expect_error([&] { frontend::tensor_from_proto(t, "initializer 'w'"); },
               {"initializer 'w'", "float_data has 5 elements", "FLOAT[2,3] needs 6"});
  auto none = typed(onnx::TensorProto::INT64, {4});
  expect_error([&] { frontend::tensor_from_proto(none, "initializer 'n'"); },
               {"initializer 'n'", "no values", "int64_data", "needs 4"});
  auto raw = typed(onnx::TensorProto::INT32, {2, 2});
  raw.set_raw_data(std::string(15, '\0'));
  expect_error([&] { frontend::tensor_from_proto(raw, "initializer 'r'"); },
               {"initializer 'r'", "raw_data has 15 bytes", "INT32[2,2] needs 16"});
}

TEST(FrontendTensor, UnsupportedElementTypes) {
  const std::pair<int, const char*> cases[] = {
      {onnx::TensorProto::STRING, "STRING"},      {onnx::TensorProto::BFLOAT16, "BFLOAT16"},
      {onnx::TensorProto::COMPLEX64, "COMPLEX64"}, {17, "FLOAT8E4M3FN"},
      {19, "FLOAT8E5M2"},                          {21, "UINT4"},
      {22, "INT4"},                                {23, "FLOAT4E2M1"},
      {25, "UINT2"},
  };
  for (const auto& [type, name] : cases) {
    auto t = typed(type, {1});
    t.set_raw_data(std::string(1, '\0'));
    expect_error([&] { frontend::tensor_from_proto(t, "initializer 'q'"); },
                 {"initializer 'q'", std::string("element type ") + name, "not supported"});
  }
  auto u = typed(onnx::TensorProto::UNDEFINED, {1});
  expect_error([&] { frontend::tensor_from_proto(u, "initializer 'u'"); }, {"initializer 'u'", "no element type"});
}

TEST(FrontendTensor, ExternalDataIsRejected) {
  auto t = typed(onnx::TensorProto::FLOAT, {1024});
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t.add_external_data();
  kv->set_key("location");
  kv->set_value("weights.bin");
  expect_error([&] { frontend::tensor_from_proto(t, "initializer 'big'"); },
               {"initializer 'big'", "external data", "'weights.bin'", "not supported"});
}

TEST(FrontendTensor, MalformedStorage) {
  auto both = float_tensor("w", {1}, {1.0f});
  both.set_raw_data(std::string(4, '\0'));
  expect_error([&] { frontend::tensor_from_proto(both, "w"); }, {"both raw_data and float_data"});

  auto wrong = typed(onnx::TensorProto::FLOAT, {2});
  wrong.add_int64_data(1);
  wrong.add_int64_data(2);
  expect_error([&] { frontend::tensor_from_proto(wrong, "w"); }, {"int64_data", "float_data"});

  auto range = typed(onnx::TensorProto::INT8, {2});
  range.add_int32_data(1);
  range.add_int32_data(200);
  expect_error([&] { frontend::tensor_from_proto(range, "w"); }, {"int32_data[1] = 200", "out of range", "INT8"});

  auto u8 = typed(onnx::TensorProto::UINT8, {1});
  u8.add_int32_data(-1);
  expect_error([&] { frontend::tensor_from_proto(u8, "w"); }, {"out of range", "UINT8"});

  auto u32 = typed(onnx::TensorProto::UINT32, {1});
  u32.add_uint64_data(uint64_t{1} << 32);
  expect_error([&] { frontend::tensor_from_proto(u32, "w"); }, {"out of range", "UINT32"});

  auto neg = typed(onnx::TensorProto::FLOAT, {2, -1});
  expect_error([&] { frontend::tensor_from_proto(neg, "w"); }, {"dimension 1", "negative"});
}

// =========================================================================================
// .pb tensor files
// =========================================================================================
TEST(FrontendTensorFile, SaveLoadRoundTrip) {
  TensorData d(DType::I16, {2, 2});
  const int16_t vals[] = {-1, 2, -300, 32767};
  std::memcpy(d.bytes.data(), vals, sizeof(vals));
  std::string path = tmp_path("roundtrip.pb");
  frontend::save_tensor_pb(path, "my_tensor", d);
  auto [name, back] = frontend::load_tensor_pb(path);
  EXPECT_EQ(name, "my_tensor");
  EXPECT_EQ(back.dtype, DType::I16);
  EXPECT_EQ(back.shape, (Shape{2, 2}));
  EXPECT_EQ(back.bytes, d.bytes);
  // The file is a plain TensorProto, readable by protobuf directly.
  onnx::TensorProto p;
  std::ifstream f(path, std::ios::binary);
  ASSERT_TRUE(p.ParseFromIstream(&f));
  EXPECT_EQ(p.data_type(), onnx::TensorProto::INT16);
  EXPECT_EQ(p.name(), "my_tensor");
}

TEST(FrontendTensorFile, LoadNodeTestInputs) {
  // test_conv_with_strides_padding: x = arange(35) as float, shape [1,1,7,5]; W = ones [1,1,3,3].
  auto [xn, x] = frontend::load_tensor_pb(kNodeTests + "/test_conv_with_strides_padding/test_data_set_0/input_0.pb");
  EXPECT_EQ(xn, "x");
  EXPECT_EQ(x.dtype, DType::F32);
  EXPECT_EQ(x.shape, (Shape{1, 1, 7, 5}));
  for (int i = 0; i < 35; ++i) EXPECT_EQ(x.data<float>()[i], static_cast<float>(i));
  auto [wn, w] = frontend::load_tensor_pb(kNodeTests + "/test_conv_with_strides_padding/test_data_set_0/input_1.pb");
  EXPECT_EQ(wn, "W");
  EXPECT_EQ(w.shape, (Shape{1, 1, 3, 3}));
  for (int i = 0; i < 9; ++i) EXPECT_EQ(w.data<float>()[i], 1.0f);

  // test_reshape_negative_dim: the new shape is [2, -1, 2] (int64); data is f32[2,3,4].
  auto [sn, s] = frontend::load_tensor_pb(kNodeTests + "/test_reshape_negative_dim/test_data_set_0/input_1.pb");
  EXPECT_EQ(sn, "shape");
  EXPECT_EQ(s.dtype, DType::I64);
  EXPECT_EQ(s.shape, (Shape{3}));
  EXPECT_EQ(s.to_i64(), (std::vector<int64_t>{2, -1, 2}));
  auto [dn, data] = frontend::load_tensor_pb(kNodeTests + "/test_reshape_negative_dim/test_data_set_0/input_0.pb");
  EXPECT_EQ(dn, "data");
  EXPECT_EQ(data.shape, (Shape{2, 3, 4}));
  // np.random.seed(0); np.random.random_sample(...): first value 0.5488135
  EXPECT_NEAR(data.data<float>()[0], 0.5488135f, 1e-7);
}

TEST(FrontendTensorFile, LoadErrors) {
  expect_error([] { frontend::load_tensor_pb(tmp_path("does_not_exist.pb")); },
               {"does_not_exist.pb", "not found"});
  std::string bad = tmp_path("garbage.pb");
  {
    std::ofstream f(bad, std::ios::binary);
    f << "\xff\xff\xff\xff\xff this is not protobuf";
  }
  expect_error([&] { frontend::load_tensor_pb(bad); }, {"garbage.pb", "protobuf parsing failed"});
}

// =========================================================================================
// Import of real ONNX node-test models
// =========================================================================================
TEST(FrontendImport, ConvWithStridesPadding) {
  auto g = frontend::import_onnx_file(kNodeTests + "/test_conv_with_strides_padding/model.onnx");
  EXPECT_EQ(g->name, "test_conv_with_strides_padding");
  EXPECT_EQ(g->opset_imports.at(""), 22);
  ASSERT_EQ(g->inputs.size(), 2u);
  EXPECT_EQ(g->inputs[0]->name, "x");
  EXPECT_EQ(g->inputs[0]->dtype, DType::F32);
  EXPECT_EQ(g->inputs[0]->shape, (Shape{1, 1, 7, 5}));
  EXPECT_TRUE(g->inputs[0]->has_shape);
  EXPECT_EQ(g->inputs[1]->name, "W");
  EXPECT_EQ(g->inputs[1]->shape, (Shape{1, 1, 3, 3}));
  ASSERT_EQ(g->nodes().size(), 1u);
  const Node& n = *g->nodes().front();
  EXPECT_EQ(n.op, "Conv");
  EXPECT_EQ(n.domain, "");
  EXPECT_EQ(n.opset, 22);
  EXPECT_EQ(n.name, "Conv_0");  // unnamed in the file
  ASSERT_EQ(n.inputs.size(), 2u);
  EXPECT_EQ(n.inputs[0], g->inputs[0]);
  EXPECT_EQ(n.inputs[1], g->inputs[1]);
  EXPECT_EQ(n.attr_ints_or("kernel_shape", {}), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(n.attr_ints_or("pads", {}), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(n.attr_ints_or("strides", {}), (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(g->outputs.size(), 1u);
  const Value* y = g->outputs[0];
  EXPECT_EQ(y->name, "y");
  EXPECT_EQ(y->producer, &n);
  EXPECT_EQ(y->dtype, DType::F32);
  EXPECT_TRUE(y->has_shape);
  // floor((7 + 2 - 3) / 2) + 1 = 4, floor((5 + 2 - 3) / 2) + 1 = 3
  EXPECT_EQ(y->shape, (Shape{1, 1, 4, 3}));
}

TEST(FrontendImport, GemmAllAttributes) {
  auto g = frontend::import_onnx_file(kNodeTests + "/test_gemm_all_attributes/model.onnx");
  EXPECT_EQ(g->opset_imports.at(""), 13);
  ASSERT_EQ(g->inputs.size(), 3u);
  EXPECT_EQ(g->inputs[0]->shape, (Shape{4, 3}));
  EXPECT_EQ(g->inputs[1]->shape, (Shape{5, 4}));
  EXPECT_EQ(g->inputs[2]->shape, (Shape{1, 5}));
  ASSERT_EQ(g->nodes().size(), 1u);
  const Node& n = *g->nodes().front();
  EXPECT_EQ(n.op, "Gemm");
  EXPECT_EQ(n.opset, 13);
  EXPECT_EQ(n.attr("alpha")->kind, Attribute::Kind::Float);
  EXPECT_FLOAT_EQ(n.attr_float_or("alpha", 0), 0.25f);
  EXPECT_FLOAT_EQ(n.attr_float_or("beta", 0), 0.35f);
  EXPECT_EQ(n.attr_int("transA"), 1);
  EXPECT_EQ(n.attr_int("transB"), 1);
  EXPECT_EQ(g->outputs[0]->shape, (Shape{3, 5}));
}

TEST(FrontendImport, ConstantNodeMatchesReferenceOutput) {
  // The model stores the constant in float_data; the reference output file stores the same
  // values in raw_data: the two independent encodings must agree.
  auto g = frontend::import_onnx_file(kNodeTests + "/test_constant/model.onnx");
  EXPECT_EQ(g->opset_imports.at(""), 25);
  EXPECT_TRUE(g->inputs.empty());
  EXPECT_TRUE(g->nodes().empty());  // the Constant became a constant value
  ASSERT_EQ(g->outputs.size(), 1u);
  const Value* v = g->outputs[0];
  EXPECT_EQ(v->name, "values");
  ASSERT_TRUE(v->is_constant());
  EXPECT_EQ(v->dtype, DType::F32);
  EXPECT_EQ(v->shape, (Shape{5, 5}));
  auto [name, ref] = frontend::load_tensor_pb(kNodeTests + "/test_constant/test_data_set_0/output_0.pb");
  EXPECT_EQ(name, "values");
  EXPECT_EQ(ref.shape, v->constant->shape);
  EXPECT_EQ(ref.bytes, v->constant->bytes);
  // np.random.seed(0); np.random.randn(5, 5): 1.7640524, 0.4001572, ...
  EXPECT_FLOAT_EQ(v->constant->data<float>()[0], 1.7640524f);
  EXPECT_FLOAT_EQ(v->constant->data<float>()[1], 0.4001572f);
}

TEST(FrontendImport, ReshapeNegativeDim) {
  auto g = frontend::import_onnx_file(kNodeTests + "/test_reshape_negative_dim/model.onnx");
  ASSERT_EQ(g->inputs.size(), 2u);
  EXPECT_EQ(g->inputs[0]->dtype, DType::F32);
  EXPECT_EQ(g->inputs[0]->shape, (Shape{2, 3, 4}));
  EXPECT_EQ(g->inputs[1]->name, "shape");
  EXPECT_EQ(g->inputs[1]->dtype, DType::I64);
  EXPECT_EQ(g->inputs[1]->shape, (Shape{3}));
  ASSERT_EQ(g->nodes().size(), 1u);
  EXPECT_EQ(g->nodes().front()->op, "Reshape");
  EXPECT_EQ(g->nodes().front()->opset, 25);
  EXPECT_EQ(g->outputs[0]->shape, (Shape{2, 6, 2}));
}

// Every node-test model either imports, or fails with a CompileError; the ones that must
// import are those whose graph inputs/outputs use only element types the IR supports and
// that have no subgraphs (according to the suite's INDEX.tsv, not to the frontend).
TEST(FrontendImport, AllNodeTestModels) {
  std::ifstream index(std::string(TINYODLC_SHARED_DIR) + "/onnx-node-tests/INDEX.tsv");
  ASSERT_TRUE(index.good());
  const std::set<std::string> supported = {"FLOAT", "DOUBLE", "FLOAT16", "INT8",   "UINT8",  "INT16", "UINT16",
                                           "INT32", "UINT32", "INT64",   "UINT64", "BOOL"};
  std::string line;
  std::getline(index, line);  // header
  int imported = 0, rejected = 0, total = 0;
  while (std::getline(index, line)) {
    std::vector<std::string> col;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) col.push_back(c);
    ASSERT_GE(col.size(), 11u) << line;
    const std::string& test = col[0];
    bool should_import = col[4].empty();  // no subgraph op types
    for (int k : {9, 10}) {
      std::stringstream ts(col[k]);
      for (std::string t; std::getline(ts, t, ',');)
        if (!t.empty() && !supported.count(t)) should_import = false;
    }
    ++total;
    try {
      auto g = frontend::import_onnx_file(kNodeTests + "/" + test + "/model.onnx");
      ++imported;
      EXPECT_TRUE(should_import) << test << " imported but INDEX.tsv says it has unsupported types/subgraphs";
      EXPECT_EQ(g->inputs.size(), static_cast<size_t>(std::stoi(col[7]))) << test;
      EXPECT_EQ(g->outputs.size(), static_cast<size_t>(std::stoi(col[8]))) << test;
      for (const auto& n : g->nodes()) EXPECT_GT(n->opset, 0) << test;
    } catch (const CompileError& e) {
      ++rejected;
      EXPECT_FALSE(should_import) << test << ": " << e.what();
    }
  }
  EXPECT_EQ(total, 795);
  EXPECT_EQ(imported + rejected, total);
  EXPECT_GT(imported, 600);
}

// =========================================================================================
// Import: features, on models built here
// =========================================================================================
TEST(FrontendImport, NodesInAnyOrderAreSorted) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"2"});
  add_node(m, "Neg", {"b"}, {"c"}, "third");
  add_node(m, "Relu", {"a"}, {"b"}, "second");
  add_node(m, "Abs", {"x"}, {"a"}, "first");
  add_output(m, "c");
  auto g = import_via_file(m);
  std::vector<std::string> order;
  for (const auto& n : g->nodes()) order.push_back(n->name);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(g->outputs[0]->dtype, DType::Undefined);  // no declared type
  EXPECT_FALSE(g->outputs[0]->has_shape);
}

TEST(FrontendImport, NamesDomainsOpsetsAndOptionalOperands) {
  onnx::ModelProto m = new_model(13);
  auto* ml = m.add_opset_import();
  ml->set_domain("com.example");
  ml->set_version(3);
  add_input(m, "x", onnx::TensorProto::FLOAT, {"3"});
  add_node(m, "Relu", {"x"}, {"a"});                           // unnamed -> Relu_0
  auto* n1 = add_node(m, "Clip", {"a", "", "hi"}, {"b"});      // omitted min
  n1->set_domain("ai.onnx");                                   // alias of ""
  add_node(m, "Dropout", {"b"}, {"c", ""}, "drop");            // omitted trailing output
  add_node(m, "Custom", {"c", ""}, {"d", "", "e"}, "custom")->set_domain("com.example");
  add_node(m, "Relu", {"d"}, {"f"}, "Relu_0");                 // clashes with a generated name
  add_initializer(m, float_tensor("hi", {}, {6.0f}));
  add_output(m, "f");
  add_output(m, "e");
  auto g = import_via_file(m);

  EXPECT_EQ(g->opset_imports.at(""), 13);
  EXPECT_EQ(g->opset_imports.at("com.example"), 3);
  Node* relu = g->find_node("Relu_0");
  ASSERT_NE(relu, nullptr);
  Node* clip = g->find_node("Clip_1");
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(clip->domain, "");
  EXPECT_EQ(clip->opset, 13);
  ASSERT_EQ(clip->inputs.size(), 3u);
  EXPECT_EQ(clip->inputs[0], g->find_value("a"));
  EXPECT_EQ(clip->inputs[1], nullptr);
  ASSERT_NE(clip->inputs[2], nullptr);
  EXPECT_TRUE(clip->inputs[2]->is_constant());
  EXPECT_EQ(clip->inputs[2]->constant->data<float>()[0], 6.0f);
  Node* drop = g->find_node("drop");
  ASSERT_NE(drop, nullptr);
  EXPECT_EQ(drop->outputs.size(), 1u);  // trailing omitted output dropped
  Node* custom = g->find_node("custom");
  ASSERT_NE(custom, nullptr);
  EXPECT_EQ(custom->domain, "com.example");
  EXPECT_EQ(custom->opset, 3);
  EXPECT_EQ(custom->def, nullptr);
  EXPECT_EQ(custom->inputs.size(), 1u);  // trailing omitted input dropped
  ASSERT_EQ(custom->outputs.size(), 3u);
  EXPECT_EQ(custom->outputs[1], nullptr);
  EXPECT_EQ(custom->outputs[2], g->find_value("e"));
  // The explicitly named "Relu_0" got a distinct name; both nodes exist.
  EXPECT_EQ(g->nodes().size(), 5u);
  EXPECT_EQ(g->find_value("f")->producer->op, "Relu");
  EXPECT_NE(g->find_value("f")->producer, relu);
}

TEST(FrontendImport, InitializersAreConstantsNotInputs) {
  // Old IR versions list initializers among the graph inputs too.
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"2"});
  add_input(m, "b", onnx::TensorProto::FLOAT, {"2"});
  add_initializer(m, float_tensor("b", {2}, {1.0f, 2.0f}));
  add_initializer(m, float_tensor("unused", {1}, {0.0f}));
  add_node(m, "Add", {"x", "b"}, {"y"});
  add_output(m, "y");
  auto g = import_via_file(m);
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->inputs[0]->name, "x");
  Value* b = g->find_value("b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->is_constant());
  EXPECT_EQ(b->shape, (Shape{2}));
  EXPECT_TRUE(b->has_shape);
  EXPECT_EQ(b->constant->data<float>()[1], 2.0f);
  EXPECT_FALSE(g->is_graph_input(b));
  EXPECT_EQ(g->nodes().front()->inputs[1], b);
}

TEST(FrontendImport, ConstantNodeForms) {
  onnx::ModelProto m = new_model();
  auto attr = [](onnx::NodeProto* n, const std::string& name, int type) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(static_cast<onnx::AttributeProto::AttributeType>(type));
    return a;
  };
  attr(add_node(m, "Constant", {}, {"cf"}), "value_float", onnx::AttributeProto::FLOAT)->set_f(2.5f);
  auto* fs = attr(add_node(m, "Constant", {}, {"cfs"}), "value_floats", onnx::AttributeProto::FLOATS);
  fs->add_floats(1.0f);
  fs->add_floats(-3.0f);
  attr(add_node(m, "Constant", {}, {"ci"}), "value_int", onnx::AttributeProto::INT)->set_i(-7);
  auto* is = attr(add_node(m, "Constant", {}, {"cis"}), "value_ints", onnx::AttributeProto::INTS);
  for (int64_t v : {4, 5, 6}) is->add_ints(v);
  auto* t = attr(add_node(m, "Constant", {}, {"ct"}), "value", onnx::AttributeProto::TENSOR)->mutable_t();
  *t = typed(onnx::TensorProto::INT32, {2});
  t->add_int32_data(11);
  t->add_int32_data(-12);
  for (const char* o : {"cf", "cfs", "ci", "cis", "ct"}) add_output(m, o);
  auto g = import_via_file(m);
  EXPECT_TRUE(g->nodes().empty());
  ASSERT_EQ(g->outputs.size(), 5u);
  for (Value* v : g->outputs) EXPECT_TRUE(v->is_constant()) << v->name;
  const Value* cf = g->find_value("cf");
  EXPECT_EQ(cf->dtype, DType::F32);
  EXPECT_TRUE(cf->shape.empty());
  EXPECT_EQ(cf->constant->data<float>()[0], 2.5f);
  const Value* cfs = g->find_value("cfs");
  EXPECT_EQ(cfs->shape, (Shape{2}));
  EXPECT_EQ(cfs->constant->data<float>()[1], -3.0f);
  const Value* ci = g->find_value("ci");
  EXPECT_EQ(ci->dtype, DType::I64);
  EXPECT_TRUE(ci->shape.empty());
  EXPECT_EQ(ci->constant->get_i64(0), -7);
  const Value* cis = g->find_value("cis");
  EXPECT_EQ(cis->dtype, DType::I64);
  EXPECT_EQ(cis->constant->to_i64(), (std::vector<int64_t>{4, 5, 6}));
  const Value* ct = g->find_value("ct");
  EXPECT_EQ(ct->dtype, DType::I32);
  EXPECT_EQ(ct->constant->to_i64(), (std::vector<int64_t>{11, -12}));
}

TEST(FrontendImport, AttributeKinds) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"1"});
  auto* n = add_node(m, "Mystery", {"x"}, {"y"}, "m");
  auto add = [&](const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  add("i", onnx::AttributeProto::INT)->set_i(-3);
  add("f", onnx::AttributeProto::FLOAT)->set_f(0.5f);
  add("s", onnx::AttributeProto::STRING)->set_s("NOTSET");
  auto* is = add("is", onnx::AttributeProto::INTS);
  is->add_ints(1);
  is->add_ints(-2);
  auto* fl = add("fs", onnx::AttributeProto::FLOATS);
  fl->add_floats(0.25f);
  auto* ss = add("ss", onnx::AttributeProto::STRINGS);
  ss->add_strings("a");
  ss->add_strings("bc");
  add("empty_ints", onnx::AttributeProto::INTS);
  *add("t", onnx::AttributeProto::TENSOR)->mutable_t() = float_tensor("", {2}, {7.0f, 8.0f});
  // An attribute without `type` (old models): kind follows from the field set.
  auto* untyped = n->add_attribute();
  untyped->set_name("legacy");
  untyped->set_i(42);
  add_output(m, "y");
  auto g = import_via_file(m);
  const Node* node = g->find_node("m");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->def, nullptr);
  EXPECT_EQ(node->attr_int("i"), -3);
  EXPECT_EQ(node->attr_float_or("f", 0), 0.5f);
  EXPECT_EQ(node->attr_string_or("s", ""), "NOTSET");
  EXPECT_EQ(node->attr_ints_or("is", {}), (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(node->attr_floats_or("fs", {}), (std::vector<float>{0.25f}));
  EXPECT_EQ(node->attr("ss")->strings, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(node->attr("empty_ints")->kind, Attribute::Kind::Ints);
  EXPECT_TRUE(node->attr("empty_ints")->ints.empty());
  ASSERT_EQ(node->attr("t")->kind, Attribute::Kind::Tensor);
  EXPECT_EQ(node->attr("t")->t->shape, (Shape{2}));
  EXPECT_EQ(node->attr("t")->t->data<float>()[1], 8.0f);
  EXPECT_EQ(node->attr_int("legacy"), 42);
}

TEST(FrontendImport, UnsupportedOpsAreAllListed) {
  onnx::ModelProto m = new_model();
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  add_input(m, "x", onnx::TensorProto::FLOAT, {"4"});
  add_node(m, "FancyOp", {"x"}, {"a"}, "f1");
  add_node(m, "Relu", {"a"}, {"b"}, "r");
  add_node(m, "FusedThing", {"b"}, {"c"}, "f2")->set_domain("com.microsoft");
  add_node(m, "Relu", {"c"}, {"d"});  // unnamed: Relu_3
  add_output(m, "d");
  auto g = import_via_file(m);
  EXPECT_NE(g->find_node("r")->def, nullptr);  // Relu is a known op
  auto u = frontend::unsupported_ops(*g);
  EXPECT_EQ(u, (std::vector<std::string>{"node 'f1' (FancyOp, domain ai.onnx)",
                                         "node 'f2' (FusedThing, domain com.microsoft)"}));
  EXPECT_NE(g->find_node("Relu_3"), nullptr);
}

namespace {
// A test-only op whose canonicalize_import hook turns attribute 'k' (opset < 5) into a
// constant input, the way real ops move attributes to inputs in newer opsets.
int g_canon_calls = 0;
const OpRegistrar kCanonTestOp([] {
  OpDef d;
  d.domain = "tinyodlc.test.frontend";
  d.name = "CanonOp";
  d.canonicalize_import = [](Node& n, Graph& g) {
    ++g_canon_calls;
    if (n.opset < 5 && n.has_attr("k")) {
      auto t = std::make_shared<TensorData>(DType::I64, Shape{1});
      t->data<int64_t>()[0] = n.attr_int("k");
      n.inputs.push_back(g.add_constant(n.name + "_k", t));
      n.attrs.erase("k");
    }
  };
  d.infer = [](Node&) {};
  return d;
}());
}  // namespace

TEST(FrontendImport, CanonicalizeImportHookRuns) {
  for (int opset : {4, 5}) {
    SCOPED_TRACE(opset);
    onnx::ModelProto m = new_model();
    auto* op = m.add_opset_import();
    op->set_domain("tinyodlc.test.frontend");
    op->set_version(opset);
    add_input(m, "x", onnx::TensorProto::FLOAT, {"4"});
    auto* n = add_node(m, "CanonOp", {"x"}, {"y"}, "c");
    n->set_domain("tinyodlc.test.frontend");
    auto* a = n->add_attribute();
    a->set_name("k");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(9);
    add_output(m, "y");
    g_canon_calls = 0;
    auto g = frontend::import_onnx_model(m);
    EXPECT_EQ(g_canon_calls, 1);
    const Node* c = g->find_node("c");
    ASSERT_NE(c, nullptr);
    ASSERT_NE(c->def, nullptr);
    EXPECT_EQ(c->opset, opset);
    if (opset == 4) {
      ASSERT_EQ(c->inputs.size(), 2u);
      EXPECT_EQ(c->inputs[1]->constant->get_i64(0), 9);
      EXPECT_FALSE(c->has_attr("k"));
    } else {
      EXPECT_EQ(c->inputs.size(), 1u);
      EXPECT_TRUE(c->has_attr("k"));
    }
    EXPECT_TRUE(frontend::unsupported_ops(*g).empty());
  }
}

TEST(FrontendImport, SymbolicDimsAndDeclaredOutputs) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"N", "3"});
  add_node(m, "Relu", {"x"}, {"y"});
  add_node(m, "Relu", {"x"}, {"z"});
  add_node(m, "Relu", {"x"}, {"w"});
  add_output(m, "y", onnx::TensorProto::FLOAT, {"N", "3"}, true);  // resolvable with --dim
  add_output(m, "z", onnx::TensorProto::FLOAT, {"M", "3"}, true);  // unknown symbol
  add_output(m, "w", onnx::TensorProto::FLOAT, {}, false);         // unranked

  expect_error([&] { frontend::import_onnx_model(m); },
               {"input 'x' has symbolic dimension 'N'; fix it with --dim N=VALUE"});

  ImportOptions opts;
  opts.dims["N"] = 8;
  auto g = frontend::import_onnx_model(m, opts);
  EXPECT_EQ(g->inputs[0]->shape, (Shape{8, 3}));
  const Value* y = g->find_value("y");
  EXPECT_EQ(y->dtype, DType::F32);
  EXPECT_TRUE(y->has_shape);
  EXPECT_EQ(y->shape, (Shape{8, 3}));
  const Value* z = g->find_value("z");
  EXPECT_EQ(z->dtype, DType::F32);
  EXPECT_FALSE(z->has_shape);
  const Value* w = g->find_value("w");
  EXPECT_EQ(w->dtype, DType::F32);
  EXPECT_FALSE(w->has_shape);

  opts.dims["N"] = -1;
  expect_error([&] { frontend::import_onnx_model(m, opts); }, {"--dim N=-1", "negative"});
}

TEST(FrontendImport, ScalarAndZeroSizeInputs) {
  onnx::ModelProto m = new_model();
  add_input(m, "s", onnx::TensorProto::INT64, {});
  add_input(m, "z", onnx::TensorProto::FLOAT, {"0", "4"});
  add_output(m, "s");
  add_output(m, "z", onnx::TensorProto::FLOAT, {"0", "4"}, true);
  auto g = import_via_file(m);
  ASSERT_EQ(g->inputs.size(), 2u);
  EXPECT_TRUE(g->inputs[0]->has_shape);
  EXPECT_TRUE(g->inputs[0]->shape.empty());
  EXPECT_EQ(g->inputs[0]->dtype, DType::I64);
  EXPECT_EQ(g->inputs[1]->shape, (Shape{0, 4}));
  EXPECT_EQ(g->outputs[0], g->inputs[0]);
  EXPECT_EQ(g->outputs[1], g->inputs[1]);
}

TEST(FrontendImport, LargeModelOver100MB) {
  // 26.5 M floats = 106 MB of raw_data: beyond protobuf's historical 64 MB default limit.
  const int64_t n = 26'500'000;
  std::string path;
  {
    onnx::ModelProto m = new_model();
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name("big");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(n);
    std::string raw(static_cast<size_t>(n) * 4, '\0');
    for (int64_t i : {int64_t{0}, int64_t{1}, n - 1}) {
      float v = static_cast<float>(i) + 0.5f;
      std::memcpy(&raw[static_cast<size_t>(i) * 4], &v, 4);
    }
    t->set_raw_data(std::move(raw));
    add_output(m, "big");
    path = write_model(m, "large.onnx");
  }
  ASSERT_GT(fs::file_size(path), 100u * 1000 * 1000);
  auto g = frontend::import_onnx_file(path);
  const Value* big = g->find_value("big");
  ASSERT_NE(big, nullptr);
  ASSERT_TRUE(big->is_constant());
  EXPECT_EQ(big->shape, (Shape{n}));
  EXPECT_EQ(big->constant->data<float>()[0], 0.5f);
  EXPECT_EQ(big->constant->data<float>()[1], 1.5f);
  EXPECT_EQ(big->constant->data<float>()[2], 0.0f);
  EXPECT_EQ(big->constant->data<float>()[n - 1], static_cast<float>(n - 1) + 0.5f);
  fs::remove(path);
}

// =========================================================================================
// Malformed input: precise errors
// =========================================================================================
TEST(FrontendErrors, FileNotFound) {
  expect_error([] { frontend::import_onnx_file(tmp_path("nope.onnx")); }, {"file '", "nope.onnx'", "not found"});
  expect_error([] { frontend::import_onnx_file(tmp_dir().string()); }, {"is a directory"});
}

TEST(FrontendErrors, EmptyFile) {
  std::string p = tmp_path("empty.onnx");
  std::ofstream(p, std::ios::binary).close();
  expect_error([&] { frontend::import_onnx_file(p); }, {"empty.onnx", "is empty"});
}

TEST(FrontendErrors, TruncatedFile) {
  onnx::ModelProto m = relu_model();
  std::vector<float> w(1000, 1.0f);
  add_initializer(m, float_tensor("w", {1000}, w));
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  std::string p = tmp_path("truncated.onnx");
  {
    std::ofstream f(p, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_error([&] { frontend::import_onnx_file(p); }, {"truncated.onnx", "protobuf parsing failed"});
}

TEST(FrontendErrors, RandomBytes) {
  std::mt19937 rng(12345);
  std::string p = tmp_path("random.onnx");
  {
    std::ofstream f(p, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(rng() & 0xFF));
  }
  expect_error([&] { frontend::import_onnx_file(p); }, {"random.onnx"});
  // Plain text is not protobuf either.
  std::string t = tmp_path("text.onnx");
  {
    std::ofstream f(t);
    f << "ir_version: 8\ngraph { node { op_type: \"Relu\" } }\n";
  }
  expect_error([&] { frontend::import_onnx_file(t); }, {"text.onnx"});
}

TEST(FrontendErrors, ModelWithoutGraph) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  expect_error([&] { import_via_file(m, {}, "nograph.onnx"); }, {"nograph.onnx", "has no graph"});
  expect_error([&] { frontend::import_onnx_model(m); }, {"has no graph"});
}

TEST(FrontendErrors, UndefinedNodeInput) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"2"});
  add_node(m, "Add", {"x", "foo"}, {"y"}, "n");
  add_output(m, "y");
  std::string msg = expect_error([&] { import_via_file(m); }, {});
  EXPECT_EQ(msg, "node 'n' (Add): input 'foo' is not defined (not a graph input, initializer, Constant or node output)");
}

TEST(FrontendErrors, UndefinedGraphOutput) {
  onnx::ModelProto m = relu_model();
  add_output(m, "ghost");
  expect_error([&] { import_via_file(m); }, {"graph output 'ghost'", "is not defined"});
}

TEST(FrontendErrors, TensorProducedTwice) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"2"});
  add_node(m, "Relu", {"x"}, {"y"}, "a");
  add_node(m, "Neg", {"x"}, {"y"}, "b");
  add_output(m, "y");
  expect_error([&] { import_via_file(m); }, {"tensor 'y'", "more than once", "node 'a' (Relu)", "node 'b' (Neg)"});

  // A node output that shadows a graph input / an initializer.
  onnx::ModelProto m2 = new_model();
  add_input(m2, "x", onnx::TensorProto::FLOAT, {"2"});
  add_node(m2, "Relu", {"x"}, {"x"}, "r");
  add_output(m2, "x");
  expect_error([&] { import_via_file(m2); }, {"tensor 'x'", "a graph input", "node 'r' (Relu)"});
  onnx::ModelProto m3 = relu_model();
  add_initializer(m3, float_tensor("y", {1}, {0.0f}));
  expect_error([&] { import_via_file(m3); }, {"tensor 'y'", "an initializer", "node 'relu' (Relu)"});
}

TEST(FrontendErrors, Cycle) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"2"});
  add_node(m, "Add", {"x", "b"}, {"a"}, "p");
  add_node(m, "Relu", {"a"}, {"b"}, "q");
  add_output(m, "b");
  expect_error([&] { import_via_file(m); }, {"cycle", "node '"});
  // A node consuming its own output.
  onnx::ModelProto m2 = new_model();
  add_node(m2, "Relu", {"s"}, {"s"}, "self");
  add_output(m2, "s");
  expect_error([&] { import_via_file(m2); }, {"node 'self' (Relu)", "cycle"});
}

TEST(FrontendErrors, UnsupportedDtypes) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::STRING, {"2"});
  add_output(m, "x");
  expect_error([&] { import_via_file(m); }, {"input 'x'", "unsupported element type STRING"});

  onnx::ModelProto m2 = relu_model();
  auto* t = add_initializer(m2, typed(onnx::TensorProto::BFLOAT16, {1}));
  t->set_name("w");
  t->add_int32_data(0x3F80);
  expect_error([&] { import_via_file(m2); }, {"initializer 'w'", "BFLOAT16", "not supported"});

  onnx::ModelProto m3 = relu_model();
  auto* t3 = add_initializer(m3, typed(22, {2}));  // INT4
  t3->set_name("q4");
  t3->set_raw_data(std::string(1, '\x12'));
  expect_error([&] { import_via_file(m3); }, {"initializer 'q4'", "INT4", "not supported"});

  onnx::ModelProto m4 = relu_model();
  set_type(m4.mutable_graph()->mutable_output(0), 17, {"1", "4"});  // declared FLOAT8E4M3FN
  expect_error([&] { import_via_file(m4); }, {"graph output 'y'", "FLOAT8E4M3FN"});
}

TEST(FrontendErrors, BadInitializerSize) {
  onnx::ModelProto m = relu_model();
  auto* t = add_initializer(m, typed(onnx::TensorProto::FLOAT, {2, 3}));
  t->set_name("w");
  t->set_raw_data(std::string(20, '\0'));
  expect_error([&] { import_via_file(m); }, {"initializer 'w'", "raw_data has 20 bytes", "FLOAT[2,3] needs 24"});
}

TEST(FrontendErrors, ExternalDataInitializer) {
  onnx::ModelProto m = relu_model();
  auto* t = add_initializer(m, typed(onnx::TensorProto::FLOAT, {4}));
  t->set_name("w");
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value("model.onnx.data");
  expect_error([&] { import_via_file(m); }, {"initializer 'w'", "external data", "not supported"});
}

TEST(FrontendErrors, DuplicateNames) {
  onnx::ModelProto m = relu_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"1", "4"});
  expect_error([&] { import_via_file(m); }, {"input 'x'", "listed twice"});

  onnx::ModelProto m2 = relu_model();
  add_initializer(m2, float_tensor("w", {1}, {1.0f}));
  add_initializer(m2, float_tensor("w", {1}, {2.0f}));
  expect_error([&] { import_via_file(m2); }, {"tensor 'w'", "more than once", "an initializer"});

  onnx::ModelProto m3 = relu_model();
  add_output(m3, "y");
  expect_error([&] { import_via_file(m3); }, {"graph output 'y'", "listed twice"});

  onnx::ModelProto m4 = relu_model();
  auto* n = m4.mutable_graph()->mutable_node(0);
  for (int k = 0; k < 2; ++k) {
    auto* a = n->add_attribute();
    a->set_name("alpha");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(1.0f);
  }
  expect_error([&] { import_via_file(m4); }, {"node 'relu' (Relu)", "attribute 'alpha' is given twice"});
}

TEST(FrontendErrors, InputTypeProblems) {
  onnx::ModelProto m = new_model();
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name("x");
  set_type(vi, onnx::TensorProto::FLOAT, {}, /*with_shape=*/false);
  add_output(m, "x");
  expect_error([&] { import_via_file(m); }, {"input 'x'", "has no shape"});

  onnx::ModelProto m2 = new_model();
  add_input(m2, "x", 0, {"2"});
  add_output(m2, "x");
  expect_error([&] { import_via_file(m2); }, {"input 'x'", "no element type"});

  onnx::ModelProto m3 = new_model();
  m3.mutable_graph()->add_input()->set_name("x");
  add_output(m3, "x");
  expect_error([&] { import_via_file(m3); }, {"input 'x'", "has no type"});

  onnx::ModelProto m4 = new_model();
  auto* seq = m4.mutable_graph()->add_input();
  seq->set_name("s");
  seq->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  add_output(m4, "s");
  expect_error([&] { import_via_file(m4); }, {"input 's'", "has sequence type"});

  onnx::ModelProto m5 = new_model();
  add_input(m5, "x", onnx::TensorProto::FLOAT, {"2", ""});  // dim without value or name
  add_output(m5, "x");
  expect_error([&] { import_via_file(m5); }, {"input 'x'", "dimension 1 is unknown"});

  // A graph output that is a graph input, declared with another element type.
  onnx::ModelProto m6 = new_model();
  add_input(m6, "x", onnx::TensorProto::FLOAT, {"2"});
  add_output(m6, "x", onnx::TensorProto::INT64, {"2"}, true);
  expect_error([&] { import_via_file(m6); }, {"graph output 'x'", "INT64", "FLOAT"});
}

TEST(FrontendErrors, Subgraphs) {
  onnx::ModelProto m = new_model();
  add_input(m, "c", onnx::TensorProto::BOOL, {});
  auto* n = add_node(m, "If", {"c"}, {"y"}, "branch");
  auto* a = n->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("then");
  add_output(m, "y");
  expect_error([&] { import_via_file(m); },
               {"node 'branch' (If)", "attribute 'then_branch'", "subgraphs are not supported"});

  onnx::ModelProto m2 = new_model();
  add_input(m2, "x", onnx::TensorProto::FLOAT, {"1"});
  auto* n2 = add_node(m2, "Weird", {"x"}, {"y"}, "w");
  auto* a2 = n2->add_attribute();
  a2->set_name("sp");
  a2->set_type(onnx::AttributeProto::SPARSE_TENSOR);
  add_output(m2, "y");
  expect_error([&] { import_via_file(m2); }, {"node 'w' (Weird)", "attribute 'sp'", "SPARSE_TENSOR", "not supported"});
}

TEST(FrontendErrors, UnsupportedConstants) {
  auto constant_with = [](const std::string& attr_name, onnx::AttributeProto::AttributeType type) {
    onnx::ModelProto m = new_model();
    auto* n = add_node(m, "Constant", {}, {"c"}, "k");
    auto* a = n->add_attribute();
    a->set_name(attr_name);
    a->set_type(type);
    if (type == onnx::AttributeProto::STRING) a->set_s("hello");
    add_output(m, "c");
    return m;
  };
  expect_error([&] { import_via_file(constant_with("value_string", onnx::AttributeProto::STRING)); },
               {"node 'k' (Constant)", "string constants", "not supported"});
  expect_error([&] { import_via_file(constant_with("sparse_value", onnx::AttributeProto::SPARSE_TENSOR)); },
               {"node 'k' (Constant)", "sparse", "not supported"});
  expect_error([&] { import_via_file(constant_with("value_int", onnx::AttributeProto::FLOAT)); },
               {"node 'k' (Constant)", "attribute 'value_int' must be of type INT"});
  onnx::ModelProto none = new_model();
  add_node(none, "Constant", {}, {"c"}, "k");
  add_output(none, "c");
  expect_error([&] { import_via_file(none); }, {"node 'k' (Constant)", "exactly one value attribute"});
}

TEST(FrontendErrors, DomainNotImported) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", onnx::TensorProto::FLOAT, {"1"});
  add_node(m, "Thing", {"x"}, {"y"}, "t")->set_domain("com.nowhere");
  add_output(m, "y");
  expect_error([&] { import_via_file(m); }, {"node 't' (Thing)", "domain 'com.nowhere'", "opset_import"});

  onnx::ModelProto m2 = relu_model();
  auto* op = m2.add_opset_import();
  op->set_domain("ai.onnx");  // same domain as "", other version
  op->set_version(11);
  expect_error([&] { import_via_file(m2); }, {"opset_import", "twice"});
}
