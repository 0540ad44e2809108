// Memory planner: offset strategies against the liveness lower bound and greedy-by-size,
// in-place execution, placement across target regions, fit errors; target descriptions.
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/memory_report.h"
#include "compiler/driver.h"
#include "compiler/targets.h"
#include "ir/parser.h"
#include "backends/memory_plan.h"

namespace tinyodlc {
namespace {

using backends::Interval;

// Independent overlap check: no two intervals whose live ranges intersect share bytes.
void expect_valid(const std::vector<Interval>& b, const backends::Assignment& a) {
  ASSERT_EQ(a.offsets.size(), b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(a.offsets[i] % 16, 0u);
    EXPECT_LE(a.offsets[i] + b[i].size, a.peak);
    for (size_t j = i + 1; j < b.size(); ++j) {
      bool live = b[i].first <= b[j].last && b[j].first <= b[i].last;
      bool mem = a.offsets[i] < a.offsets[j] + b[j].size && a.offsets[j] < a.offsets[i] + b[i].size;
      EXPECT_FALSE(live && mem && b[i].size && b[j].size) << "buffers " << i << " and " << j << " overlap";
    }
  }
}

TEST(MemoryPlan, LowerBoundByHand) {
  // steps 0..2: live sets {a,b} = 32+16, {b,c} = 16+64, {c} = 64 (sizes aligned to 16).
  std::vector<Interval> b = {{20, 0, 0}, {16, 0, 1}, {64, 1, 2}};
  EXPECT_EQ(backends::liveness_lower_bound(b, 16), 80u);
}

TEST(MemoryPlan, StrategiesBeatGreedyWhereGreedyFragments) {
  // A classic case where largest-first leaves a hole: the search reaches the lower bound.
  std::vector<Interval> b = {{32, 0, 1}, {48, 1, 2}, {32, 2, 3}, {16, 3, 4}, {48, 4, 5}, {32, 0, 0}, {64, 5, 6}};
  auto g = backends::assign_greedy_by_size(b, 16);
  auto best = backends::assign_offsets(b, 16);
  expect_valid(b, g);
  expect_valid(b, best);
  EXPECT_LE(best.peak, g.peak);
  EXPECT_GE(best.peak, backends::liveness_lower_bound(b, 16));
}

TEST(MemoryPlan, RandomGraphsValidAndWithinBounds) {
  uint64_t s = 42;
  auto rnd = [&](uint64_t n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (s >> 33) % n;
  };
  double worst = 1.0;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<Interval> b;
    int steps = 10 + static_cast<int>(rnd(40));
    for (int t = 0; t < steps; ++t) {
      int k = 1 + static_cast<int>(rnd(2));
      for (int j = 0; j < k; ++j) {
        int len = static_cast<int>(rnd(4));
        b.push_back({16 * (1 + rnd(64)), t, std::min(steps - 1, t + len)});
      }
    }
    auto g = backends::assign_greedy_by_size(b, 16);
    auto best = backends::assign_offsets(b, 16);
    expect_valid(b, best);
    size_t lb = backends::liveness_lower_bound(b, 16);
    EXPECT_LE(best.peak, g.peak);
    EXPECT_GE(best.peak, lb);
    worst = std::max(worst, static_cast<double>(best.peak) / lb);
  }
  RecordProperty("worst_ratio", std::to_string(worst));
}

std::unique_ptr<ir::Graph> chain() {
  // x -> Relu -> Sigmoid -> Add(s, x2) -> Exp -> y, x2 = Neg(x): in-place along the chain.
  return ir::parse_graph(R"(graph @g (%x: f32[1,64]) -> (%y) {
  %r = Relu(%x) name("relu") : f32[1,64]
  %n = Neg(%x) name("neg") : f32[1,64]
  %s = Sigmoid(%r) name("sig") : f32[1,64]
  %a = Add(%s, %n) name("add") : f32[1,64]
  %e = Exp(%a) name("exp") : f32[1,64]
  %y = Relu(%e) name("out") : f32[1,64]
}
)",
                         "chain.tir");
}

TEST(MemoryPlan, InPlaceElementwiseChain) {
  auto g = chain();
  auto plan = backends::plan_memory(*g, std::vector<size_t>(g->nodes().size(), 0));
  // relu, neg: own buffers; sig, add, exp in place over relu's buffer.
  ASSERT_EQ(plan.buffers.size(), 2u);
  EXPECT_TRUE(plan.inplace[2] && plan.inplace[3] && plan.inplace[4]);
  EXPECT_FALSE(plan.inplace[0] || plan.inplace[1]);
  EXPECT_EQ(plan.buffer_of.at(g->find_value("s")), plan.buffer_of.at(g->find_value("r")));
  EXPECT_EQ(plan.arena_bytes, 512u);
  EXPECT_EQ(plan.lower_bound, 512u);
}

TEST(MemoryPlan, NoInPlaceWhenInputLivesOn) {
  auto g = ir::parse_graph(R"(graph @g (%x: f32[8]) -> (%y) {
  %r = Relu(%x) name("relu") : f32[8]
  %s = Sigmoid(%r) name("sig") : f32[8]
  %y = Add(%s, %r) name("add") : f32[8]
}
)",
                           "keep.tir");
  auto plan = backends::plan_memory(*g, std::vector<size_t>(3, 0));
  EXPECT_FALSE(plan.inplace[1]);  // r is read again by add
  EXPECT_NE(plan.buffer_of.at(g->find_value("s")), plan.buffer_of.at(g->find_value("r")));
}

backends::PlanOptions regions(std::vector<backends::RegionSpec> r) {
  backends::PlanOptions o;
  o.target = "test";
  o.regions = std::move(r);
  return o;
}

TEST(MemoryPlan, PicksFastestRegionThatFitsAndMovesSmallBuffersUp) {
  auto g = chain();
  std::vector<size_t> scratch(g->nodes().size(), 0);
  auto fits = backends::plan_memory(*g, scratch, regions({{"SLOW", "ram", 0x1000, 4096, 0, 1, "S", ""},
                                                        {"FAST", "ram", 0x2000, 1024, 0, 3, "F", ""}}));
  ASSERT_EQ(fits.regions.size(), 2u);
  EXPECT_EQ(fits.regions[0].name, "FAST");
  EXPECT_EQ(fits.regions[0].used, 512u);
  EXPECT_EQ(fits.regions[1].used, 0u);
  // FAST too small for everything: the main arena goes to SLOW, one 256-byte buffer to FAST.
  auto split = backends::plan_memory(*g, scratch, regions({{"SLOW", "ram", 0x1000, 4096, 0, 1, "S", ""},
                                                         {"FAST", "ram", 0x2000, 300, 0, 3, "F", ""}}));
  EXPECT_EQ(split.regions[0].name, "FAST");
  EXPECT_EQ(split.regions[0].used, 256u);
  EXPECT_EQ(split.regions[1].used, 256u);
  // Two small regions, neither holds 512 bytes: split over both.
  auto two = backends::plan_memory(*g, scratch, regions({{"A", "ram", 0x1000, 300, 0, 1, "A", ""},
                                                       {"B", "ram", 0x2000, 300, 0, 1, "B", ""}}));
  EXPECT_EQ(two.regions[0].used + two.regions[1].used, 512u);
}

TEST(MemoryPlan, FitErrorNamesRegionOverBudgetAndLayer) {
  auto g = chain();
  std::vector<size_t> scratch(g->nodes().size(), 0);
  try {
    backends::plan_memory(*g, scratch, regions({{"SRAM", "ram", 0x08000000, 400, 100, 1, "ram", ""}}));
    FAIL() << "expected FitError";
  } catch (const backends::FitError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("region 'SRAM'"), std::string::npos) << m;
    EXPECT_NE(m.find("112 bytes over budget"), std::string::npos) << m;
    EXPECT_NE(m.find("100 bytes reserved"), std::string::npos) << m;
    EXPECT_NE(m.find("node '"), std::string::npos) << m;
    EXPECT_NE(m.find("int8"), std::string::npos) << m;
  }
  EXPECT_THROW(backends::check_weights_fit(5000, regions({{"FLASH", "flash", 0, 4096, 0, 0, "F", ""},
                                                         {"RAM", "ram", 0, 4096, 0, 1, "R", ""}})),
               backends::FitError);
}

TEST(Targets, BuiltinsFromJson) {
  const Target& n = find_target("nicla-vision");
  EXPECT_EQ(n.core, "cortex-m7");
  ASSERT_NE(n.region("DTCM"), nullptr);
  EXPECT_EQ(n.region("DTCM")->base, 0x20000000u);
  EXPECT_EQ(n.region("AXISRAM")->base, 0x24000000u);
  EXPECT_EQ(n.region("SRAM4")->size, 64u * 1024);
  const Target& p = find_target("psoc62s2");
  EXPECT_EQ(p.region("SRAM")->total, 1024u * 1024);
  // minus the CM0+ share, the system-call area and the default firmware reserve
  EXPECT_EQ(p.region("SRAM")->size, 1024u * 1024 - 10 * 1024 - 16 * 1024);
  EXPECT_EQ(n.region("AXISRAM")->size, 512u * 1024 - 64 * 1024 - 150 * 1024);  // core + camera frame buffer
  EXPECT_EQ(n.region("DTCM")->size, 128u * 1024 - 16 * 1024);
  EXPECT_EQ(find_target("cortex-m4").name, "mps2-an386");       // alias
  EXPECT_TRUE(find_target("host").is_host());
  EXPECT_THROW(find_target("nope"), ir::CompileError);
}

TEST(Targets, FileExtendsAndReservations) {
  Target t = parse_target(R"({"name": "my-nicla", "extends": "nicla-vision",
    "regions": [{"name": "FLASH", "size": "2M"}, {"name": "SDRAM", "kind": "ram", "base": "0x60000000", "size": "8M"}]})",
                          "my.json");
  EXPECT_EQ(t.core, "cortex-m7");
  EXPECT_EQ(t.region("FLASH")->size, 2u << 20);
  EXPECT_EQ(t.region("SDRAM")->size, 8u << 20);
  apply_reservations(t, {{"AXISRAM", 100 * 1024}});  // replaces the board's default firmware reserve
  EXPECT_EQ(t.region("AXISRAM")->size, 412u * 1024);
  Target p2 = find_target("psoc62s2");
  apply_reservations(p2, {{"SRAM", 4 * 1024}});  // the default 16K goes, the CM0+ share and system calls stay
  EXPECT_EQ(p2.region("SRAM")->size, 1024u * 1024 - 10 * 1024 - 4 * 1024);
  EXPECT_THROW(apply_reservations(t, {{"NOPE", 1}}), ir::CompileError);
  EXPECT_THROW(apply_reservations(t, {{"DTCM", 1u << 20}}), ir::CompileError);
  EXPECT_THROW(parse_target(R"({"name": "x", "core": "cortex-m4", "regions": [{"name": "A", "kind": "ram"}]})", "x"),
               ir::CompileError);
  EXPECT_THROW(parse_target(R"({"name": "x", "core": "cortex-m4", "bogus": 1})", "x"), ir::CompileError);
  EXPECT_THROW(parse_target(R"({"name": "x", "core": "cortex-m4", "regions": [
    {"name": "A", "kind": "ram", "base": 0, "size": 100}, {"name": "B", "kind": "ram", "base": 50, "size": 100}]})", "x"),
               ir::CompileError);  // overlapping regions
  EXPECT_EQ(parse_bytes("64K"), 65536u);
  EXPECT_EQ(parse_bytes("0x2000"), 8192u);
  EXPECT_THROW(parse_bytes("12Q"), std::invalid_argument);
}

TEST(MemoryReport, JsonHasTheSchemaKeys) {
  auto g = chain();
  auto plan = backends::plan_memory(*g, std::vector<size_t>(g->nodes().size(), 0));
  std::string j = backends::memory_json(*g, plan, 0);
  for (const char* k : {"\"target\"", "\"regions\"", "\"buffers\"", "\"schedule\"", "\"peak_bytes\": 512",
                        "\"lower_bound_bytes\": 512", "\"first\"", "\"last\"", "\"tensors\"", "\"offset\""})
    EXPECT_NE(j.find(k), std::string::npos) << k;
}

}  // namespace
}  // namespace tinyodlc
