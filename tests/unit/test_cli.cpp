// End-to-end tests of the `tinyodlc` binary: determinism, run/check contract, exit codes and
// error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/process.h"
#include "onnx/onnx_pb.h"

namespace fs = std::filesystem;
using tinyodlc::run_process;

namespace {

const std::string kTool = std::string(TINYODLC_BINARY_DIR) + "/tinyodlc";
const std::string kExample = std::string(TINYODLC_SOURCE_DIR) + "/examples/tiny_cnn";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tinyodlc-test-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string write_file(const fs::path& dir, const std::string& name, const std::string& data) {
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << data;
  return p.string();
}

// A one-node model (x -> op -> y) of float[2,3] tensors.
onnx::ModelProto one_node_model(const std::string& op) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name("the_node");
  n->add_input("x");
  n->add_output("y");
  for (auto* vi : {g->add_input(), g->add_output()}) {
    vi->set_name(vi == &g->input(0) ? "x" : "y");
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  }
  return m;
}

}  // namespace

TEST(Cli, VersionAndHelp) {
  auto v = run_process({kTool, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.output.find("tinyodlc 0."), std::string::npos);
  auto h = run_process({kTool, "--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* cmd : {"compile", "inspect", "run", "check"}) EXPECT_NE(h.output.find(cmd), std::string::npos) << cmd;
  auto bad = run_process({kTool, "compile"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
}

TEST(Cli, CompileIsDeterministic) {
  fs::path a = temp_dir("det-a"), b = temp_dir("det-b");
  ASSERT_EQ(run_process({kTool, "compile", kExample + "/tiny_cnn.onnx", "-o", a.string()}).exit_code, 0);
  ASSERT_EQ(run_process({kTool, "compile", kExample + "/tiny_cnn.onnx", "-o", b.string()}).exit_code, 0);
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(a)) {
    if (!e.is_regular_file()) continue;
    fs::path rel = fs::relative(e.path(), a);
    ASSERT_TRUE(fs::exists(b / rel)) << rel;
    EXPECT_EQ(slurp(e.path()), slurp(b / rel)) << rel;
    ++files;
  }
  EXPECT_GE(files, 3);
  EXPECT_TRUE(fs::exists(a / "tiny_cnn.h"));
  EXPECT_TRUE(fs::exists(a / "tiny_cnn.cpp"));
}

TEST(Cli, CheckPassesOnReferenceDataAndFailsOnWrongData) {
  for (int k = 0; k < 3; ++k) {
    auto r = run_process({kTool, "check", kExample + "/tiny_cnn.onnx", "--data",
                          kExample + "/test_data_set_" + std::to_string(k)});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("check: PASS"), std::string::npos);
  }
  // Expected outputs of set 0 against inputs of set 1: must be reported as a mismatch.
  fs::path d = temp_dir("wrong");
  fs::copy_file(kExample + "/test_data_set_1/input_0.pb", d / "input_0.pb");
  fs::copy_file(kExample + "/test_data_set_0/output_0.pb", d / "output_0.pb");
  auto r = run_process({kTool, "check", kExample + "/tiny_cnn.onnx", "--data", d.string()});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("MISMATCH"), std::string::npos);
}

TEST(Cli, RunWritesNamedOutputs) {
  fs::path out = temp_dir("run-out");
  auto r = run_process({kTool, "run", kExample + "/tiny_cnn.onnx", "--inputs", kExample + "/test_data_set_0",
                        "--outputs", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  onnx::TensorProto t;
  std::string data = slurp(out / "output_0.pb");
  ASSERT_TRUE(t.ParseFromString(data));
  EXPECT_EQ(t.name(), "probs");
  EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(t.dims_size(), 2);
  EXPECT_EQ(t.dims(1), 4);
}

TEST(Cli, RunRejectsInputsOfTheWrongShape) {
  fs::path d = temp_dir("badin");
  onnx::TensorProto t;
  t.set_name("x");
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(3);
  for (int i = 0; i < 3; ++i) t.add_float_data(1.0f);
  write_file(d, "input_0.pb", t.SerializeAsString());
  auto r = run_process({kTool, "run", kExample + "/tiny_cnn.onnx", "--inputs", d.string(), "--outputs", d.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("input_0.pb: holds f32[3] but model input 0 ('x') is f32[1,1,28,28]"), std::string::npos)
      << r.output;
}

TEST(Cli, MalformedFilesGiveErrorsNotCrashes) {
  fs::path d = temp_dir("malformed");
  std::string good = slurp(kExample + "/tiny_cnn.onnx");
  std::string truncated = write_file(d, "truncated.onnx", good.substr(0, good.size() / 2));
  std::string garbage = write_file(d, "garbage.onnx", std::string("\xff\xfe this is not protobuf \x01\x02", 26));
  std::string empty = write_file(d, "empty.onnx", "");
  for (const auto& f : {truncated, garbage, empty}) {
    auto r = run_process({kTool, "compile", f, "-o", (d / "out").string()});
    EXPECT_EQ(r.exit_code, 1) << f << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("tinyodlc: error: " + f + ": ", 0), 0u) << r.output;
  }
}

TEST(Cli, UnsupportedOpsAreAllListed) {
  fs::path d = temp_dir("unsupported");
  onnx::ModelProto m = one_node_model("FancyOp");
  // Add a second unknown op after the first.
  auto* n2 = m.mutable_graph()->add_node();
  n2->set_op_type("OtherOp");
  n2->set_name("second");
  n2->add_input("y");
  n2->add_output("z");
  m.mutable_graph()->mutable_output(0)->set_name("z");
  std::string f = write_file(d, "m.onnx", m.SerializeAsString());
  auto r = run_process({kTool, "inspect", f});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FancyOp"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("OtherOp"), std::string::npos) << r.output;
  auto c = run_process({kTool, "compile", f, "-o", (d / "out").string()});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.output.find("node 'the_node' (FancyOp"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("node 'second' (OtherOp"), std::string::npos) << c.output;
}

TEST(Cli, ShapeMismatchNamesTheNode) {
  fs::path d = temp_dir("shape");
  onnx::ModelProto m = one_node_model("Relu");
  // Declare the output with a wrong shape.
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(4);
  std::string f = write_file(d, "m.onnx", m.SerializeAsString());
  auto r = run_process({kTool, "compile", f, "-o", (d / "out").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("node 'the_node' (Relu): output 'y' is declared with shape [2,4] but the operator produces [2,3]"),
            std::string::npos)
      << r.output;
}

TEST(Cli, InspectPrintsPerLayerTable) {
  auto r = run_process({kTool, "inspect", kExample + "/tiny_cnn.onnx"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("conv1"), std::string::npos);
  EXPECT_NE(r.output.find("Conv"), std::string::npos);
  // conv1: 8*1*3*3 + 8 params; 28*28*8*9 MACs.
  EXPECT_NE(r.output.find("80"), std::string::npos);
  EXPECT_NE(r.output.find("56448"), std::string::npos) << r.output;
}

TEST(Cli, GeneratedCodeIsWarningFreeWithGccAndClang) {
  fs::path out = temp_dir("warn");
  ASSERT_EQ(run_process({kTool, "compile", kExample + "/tiny_cnn.onnx", "-o", out.string()}).exit_code, 0);
  for (const std::string cxx : {"g++", "clang++-14"}) {
    auto r = run_process({cxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fno-exceptions",
                          "-fno-rtti", "-I", out.string(), "-c", (out / "tiny_cnn.cpp").string(), "-o",
                          (out / (cxx + ".o")).string()});
    EXPECT_EQ(r.exit_code, 0) << cxx << "\n" << r.output;
  }
}

// Every option is validated (finite, in range, only with the option that enables it): exit 2
// and a message naming the option; never a silent acceptance or a crash (issue 19).
TEST(Cli, InvalidOptionsAreRejectedByName) {
  const std::string model = kExample + "/tiny_cnn.onnx";
  const fs::path out = temp_dir("badopts");
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--trainable-last", "1", "--lr", "-1"}, "--lr: must be a finite number > 0"},
      {{"--trainable-last", "1", "--lr", "nan"}, "--lr: must be a finite number > 0"},
      {{"--trainable-last", "1", "--lr", "inf"}, "--lr: must be a finite number > 0"},
      {{"--trainable-last", "1", "--optimizer", "momentum", "--momentum", "nan"}, "--momentum: must be in [0, 1)"},
      {{"--trainable-last", "1", "--momentum", "0.5"}, "--momentum: applies to --optimizer momentum only"},
      {{"--trainable-last", "1", "--weight-decay", "-1"}, "--weight-decay: must be a finite number >= 0"},
      {{"--trainable-last", "1", "--scale", "nan"}, "--scale: must be a finite number > 0"},
      {{"--trainable-last", "0"}, "--trainable-last: must be at least 1"},
      {{"--trainable-last", "-1"}, "--trainable-last: must be at least 1"},
      {{"--append-head", "0"}, "--append-head: must be between 1 and 65536"},
      {{"--append-head", "-3"}, "--append-head: must be between 1 and 65536"},
      {{"--append-head", "2147483647"}, "--append-head: must be between 1 and 65536"},
      {{"--lr", "0.1"}, "--lr: only applies to a training build"},
      {{"--optimizer", "adam"}, "--optimizer: only applies to a training build"},
      {{"--calibration", kExample}, "--calibration: needs --quantize int8"},
      {{"--calibration-method", "mse"}, "--calibration-method: needs --quantize int8"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> cmd = {kTool, "compile", model, "-o", out.string()};
    cmd.insert(cmd.end(), c.args.begin(), c.args.end());
    auto r = run_process(cmd);
    EXPECT_EQ(r.exit_code, 2) << c.expect << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(out / "tiny_cnn.cpp")) << "an invalid compile wrote output";
  const std::string set0 = kExample + "/test_data_set_0";
  auto t = run_process({kTool, "run", model, "--inputs", set0, "--outputs", out.string(), "--timeout", "0"});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_NE(t.output.find("--timeout: must be at least 1 second"), std::string::npos) << t.output;
  auto l = run_process({kTool, "run", model, "--inputs", set0, "--outputs", out.string(), "--train-steps", "3"});
  EXPECT_EQ(l.exit_code, 2);
  EXPECT_NE(l.output.find("--train-steps: only applies to a training build"), std::string::npos) << l.output;
  // --dim for a dimension the model does not have.
  auto d = run_process({kTool, "compile", model, "-o", out.string(), "--dim", "foo=3"});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.output.find("--dim foo=3: the model has no symbolic dimension 'foo'"), std::string::npos) << d.output;
  // `check` without reference outputs: an error naming the folder (and the data sets in it), not "outputs differ".
  auto k = run_process({kTool, "check", model, "--data", kExample});
  EXPECT_EQ(k.exit_code, 1) << k.output;
  EXPECT_NE(k.output.find("holds no reference output"), std::string::npos) << k.output;
  EXPECT_NE(k.output.find("test_data_set_0"), std::string::npos) << k.output;
  fs::remove_all(out);
}

// The generated namespace must compile: a keyword or reserved --name is an error naming it; a
// model file named like a keyword gets a usable default name.
TEST(Cli, KeywordNames) {
  const fs::path dir = temp_dir("keyword");
  const std::string model = (dir / "default.onnx").string();
  fs::copy_file(kExample + "/tiny_cnn.onnx", model);
  for (const char* name : {"class", "int", "tinyodlc", "a__b"}) {
    auto r = run_process({kTool, "compile", model, "-o", (dir / "out").string(), "--name", name});
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_NE(r.output.find(std::string("--name '") + name + "' cannot name the generated namespace"), std::string::npos)
        << r.output;
  }
  auto ok = run_process({kTool, "compile", model, "-o", (dir / "out").string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(dir / "out" / "default_model.h"));
  // ... and that code compiles.
  auto cc = run_process({"c++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", (dir / "out").string(),
                         (dir / "out" / "default_model.cpp").string()});
  EXPECT_EQ(cc.exit_code, 0) << cc.output;
  fs::remove_all(dir);
}

// Names from the model reach messages escaped: a NUL or an escape sequence does not cut or
// garble the message.
TEST(Cli, ControlCharactersInMessagesAreEscaped) {
  const fs::path dir = temp_dir("ctrl");
  onnx::ModelProto m = one_node_model("NoSuchOp");
  m.mutable_graph()->mutable_node(0)->set_name(std::string("bad\x1b[2Jname\0tail", 17));
  const std::string path = (dir / "m.onnx").string();
  write_file(dir, "m.onnx", m.SerializeAsString());
  auto r = run_process({kTool, "compile", path, "-o", (dir / "out").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad\\x1b[2Jname\\x00tail"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos);
  fs::remove_all(dir);
}

namespace {

// Active learning (docs/active-learning.md): every flag validated by name; compile errors name
// the option; the generated API has the names; the buffer is reported and registered as
// learned state.
TEST(Cli, ActiveLearningOptions) {
  const std::string model = kExample + "/tiny_cnn.onnx";
  const fs::path out = temp_dir("al");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--active-learning", "margin"}, 2, "--active-learning: needs a training build"},
      {{"--active-learning", "bogus", "--trainable-last", "1"}, 2, "--active-learning: bogus not in"},
      {{"--al-buffer", "4"}, 2, "--al-buffer: only applies with --active-learning"},
      {{"--al-rv", "info"}, 2, "--al-rv: only applies with --active-learning"},
      {{"--active-learning", "entropy", "--trainable-last", "1", "--al-buffer", "0"}, 2,
       "--al-buffer: must be between 1 and 4096"},
      {{"--active-learning", "entropy", "--trainable-last", "1", "--al-budget", "-1"}, 2,
       "--al-budget: must be at least 0"},
      {{"--active-learning", "entropy", "--trainable-last", "1", "--al-rv", "triple"}, 2, "--al-rv: triple not in"},
      {{"--active-learning", "entropy", "--trainable", "biases", "--al-store", "features"}, 1,
       "--al-store: features: the trainable part starts at the model input"},
      {{"--active-learning", "entropy", "--append-head", "3", "--al-store", "features"}, 1,
       "--al-store: features: --append-head: the trained head is not part of the inference graph"},
      {{"--active-learning", "entropy", "--trainable-last", "1", "--loss", "mse"}, 2,
       "--active-learning: needs --loss cross-entropy"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> cmd = {kTool, "compile", model, "-o", out.string()};
    cmd.insert(cmd.end(), c.args.begin(), c.args.end());
    auto r = run_process(cmd);
    EXPECT_EQ(r.exit_code, c.code) << c.expect << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  }
  auto ok = run_process({kTool, "compile", model, "-o", out.string(), "--trainable-last", "1", "--active-learning",
                         "hybrid", "--al-buffer", "3", "--al-budget", "5", "--al-rv", "dual", "--target", "cortex-m4"});
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const std::string h = slurp(out / "tiny_cnn.h");
  for (const char* api : {"constexpr int kAlBuffer = 3;", "int al_pending(int* slots, int max);",
                          "int al_label(int slot, int64_t label);", "int al_budget_left();", "float al_train(int epochs);",
                          "void al_reset();", "int al_offer(const float* al_in_0, float* score);"})
    EXPECT_NE(h.find(api), std::string::npos) << api;
  // auto = features here (only the last layer trains): the buffer holds the last layer's input.
  EXPECT_NE(h.find("int invoke_with_features("), std::string::npos) << h;
  const std::string alj = slurp(out / "active_learning.json");
  EXPECT_NE(alj.find("\"store\": \"features\""), std::string::npos) << alj;
  const std::string cpp = slurp(out / "tiny_cnn.cpp");
  EXPECT_NE(cpp.find("{\"al.buffer\", &g_al,"), std::string::npos) << "the buffer is not a learned-state block";
  const std::string mem = slurp(out / "memory.json");
  EXPECT_NE(mem.find("\"active_learning_buffer_bytes\""), std::string::npos) << mem;
  for (const std::string cxx : {"g++", "clang++-14"}) {
    auto r = run_process({cxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion",
                          "-fno-exceptions", "-fno-rtti", "-I", out.string(), "-c", (out / "tiny_cnn.cpp").string(),
                          "-o", (out / (cxx + ".o")).string()});
    EXPECT_EQ(r.exit_code, 0) << cxx << "\n" << r.output;
  }
  // --al-store inputs: the raw inputs, no features entry point; a larger sample.
  const fs::path out_in = temp_dir("al_inputs");
  auto in = run_process({kTool, "compile", model, "-o", out_in.string(), "--trainable-last", "1", "--active-learning",
                         "hybrid", "--al-buffer", "3", "--al-store", "inputs"});
  ASSERT_EQ(in.exit_code, 0) << in.output;
  const std::string hin = slurp(out_in / "tiny_cnn.h");
  EXPECT_EQ(hin.find("invoke_with_features"), std::string::npos);
  EXPECT_NE(slurp(out_in / "active_learning.json").find("\"store\": \"inputs\""), std::string::npos);
  fs::remove_all(out_in);
  // run: --seed / --al-window only with --active-learning; an AL run needs --train-data.
  const std::string set0 = kExample + "/test_data_set_0";
  auto s = run_process({kTool, "run", model, "--inputs", set0, "--outputs", out.string(), "--seed", "3"});
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_NE(s.output.find("--seed: only applies with --active-learning"), std::string::npos) << s.output;
  auto t = run_process({kTool, "run", model, "--outputs", out.string(), "--trainable-last", "1", "--active-learning",
                        "margin"});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_NE(t.output.find("--active-learning: a run streams --train-data DIR"), std::string::npos) << t.output;
  fs::remove_all(out);
}

}  // namespace
