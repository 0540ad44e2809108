// Host tests of the learned-state storage engine (tinyodlc/runtime/storage.h): power cuts at
// every erase/program call of a save and of its retry, bit flips, foreign layouts, sequence
// wrap, CRC-32 against its check value; the RAM and file example ports.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "fault_suite.h"
#include "persistence/file_port.h"
#include "persistence/ram_port.h"

namespace {

void print(const char* s) { std::fputs(s, stderr); }

struct Geo {
  const char* name;
  uint32_t area, erase, program;
};
// Small NOR (4 KiB sectors, 8-byte words... 256-byte pages), STM32H7 internal flash
// (128 KiB sectors, 32-byte flash words), PSoC 6 (512-byte rows, erased and programmed per row),
// and a geometry where the payload spans several erase units and program chunks.
const Geo kGeos[] = {
    {"nor-4k-8", 2 * 4096, 4096, 8},
    {"stm32h7", 2 * 131072, 131072, 32},
    {"psoc6", 2 * 2048, 512, 512},
    {"multi-unit", 2 * 2048, 256, 4},
};

void PrintTo(const Geo& g, std::ostream* os) { *os << g.name; }

class PowerCut : public ::testing::TestWithParam<Geo> {};

TEST_P(PowerCut, EveryCallOfSaveAndRetry) {
  const Geo g = GetParam();
  std::vector<uint8_t> mem(g.area), a(g.area), b(g.area);
  faultsuite::Log log{print};
  for (uint32_t seed : {1u, 0xC0FFEEu, 0x5EED5EEDu})
    faultsuite::power_cut_suite(log, mem.data(), a.data(), b.data(), g.area, g.erase, g.program, seed);
  EXPECT_EQ(log.failures, 0u);
  EXPECT_GT(log.cuts, 30u);
  std::fprintf(stderr, "%s: %u power cuts, %u checks\n", g.name, log.cuts, log.checks);
}

TEST_P(PowerCut, EveryFlippedBitIsRefused) {
  const Geo g = GetParam();
  std::vector<uint8_t> mem(g.area);
  faultsuite::Log log{print};
  faultsuite::bit_flip_suite(log, mem.data(), g.area, g.erase, g.program, 1);
  EXPECT_EQ(log.failures, 0u);
  EXPECT_GT(log.checks, 8u * 1200u);
}

TEST_P(PowerCut, LayoutRefusedAndSequenceWraps) {
  const Geo g = GetParam();
  std::vector<uint8_t> mem(g.area);
  faultsuite::Log log{print};
  faultsuite::layout_and_wrap_suite(log, mem.data(), g.area, g.erase, g.program);
  EXPECT_EQ(log.failures, 0u);
}

TEST_P(PowerCut, UnreadableSlotCountsAsInvalid) {
  const Geo g = GetParam();
  std::vector<uint8_t> mem(g.area), a(g.area);
  faultsuite::Log log{print};
  faultsuite::unreadable_slot_suite(log, mem.data(), a.data(), g.area, g.erase, g.program);
  EXPECT_EQ(log.failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Geometries, PowerCut, ::testing::ValuesIn(kGeos),
                         [](const auto& info) {
                           std::string s = info.param.name;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(Crc32, CheckValueAndBitwiseReference) {
  faultsuite::Log log{print};
  EXPECT_TRUE(faultsuite::crc_check_value(log));
}

TEST(Storage, SaveWearPerSave) {
  // One save = erase of the slot's used erase units + ceil(payload / chunk) + 1 program calls.
  std::vector<uint8_t> mem(2 * 4096);
  norsim::Nor n;
  norsim::init(n, mem.data(), mem.size(), 4096, 8);
  faultsuite::fill(faultsuite::state(), 1);
  ASSERT_EQ(tinyodlc::storage::save(norsim::port(n), faultsuite::layout()), 0);
  EXPECT_EQ(n.erases, 1u);
  EXPECT_EQ(n.programs, (1208u + 511u) / 512u + 1u);
  EXPECT_EQ(n.programmed_bytes, 1208u + 24u);
  EXPECT_EQ(tinyodlc::storage::area_bytes(1208, 4096, 8), 8192u);
  EXPECT_EQ(tinyodlc::storage::area_bytes(1208, 131072, 32), 262144u);
  EXPECT_EQ(tinyodlc::storage::area_bytes(1208, 512, 512), 2u * (512u + 3u * 512u));  // header row + 3 payload rows
}

TEST(Storage, PortErrorsAreReported) {
  std::vector<uint8_t> mem(2 * 4096);
  norsim::Nor n;
  norsim::init(n, mem.data(), mem.size(), 4096, 8);
  tinyodlc::StoragePort p = norsim::port(n);
  p.read = [](void*, uint32_t, void*, uint32_t) { return -7; };
  EXPECT_EQ(tinyodlc::storage::save(p, faultsuite::layout()), tinyodlc::storage::kErrPort);  // cannot verify
  EXPECT_EQ(tinyodlc::storage::load(p, faultsuite::layout()), tinyodlc::storage::kErrPort);
  p = norsim::port(n);
  p.erase = [](void*, uint32_t, uint32_t) { return -7; };
  EXPECT_EQ(tinyodlc::storage::save(p, faultsuite::layout()), tinyodlc::storage::kErrPort);
  p = norsim::port(n);
  p.program = [](void*, uint32_t, const void*, uint32_t) { return -7; };
  EXPECT_EQ(tinyodlc::storage::save(p, faultsuite::layout()), tinyodlc::storage::kErrPort);
  p = norsim::port(n);
  p.erase_size = 3000;  // not a power of two
  EXPECT_EQ(tinyodlc::storage::save(p, faultsuite::layout()), tinyodlc::storage::kErrGeometry);
  p = norsim::port(n);
  p.program_size = 1024;  // larger than the engine's buffer
  EXPECT_EQ(tinyodlc::storage::save(p, faultsuite::layout()), tinyodlc::storage::kErrGeometry);
}

TEST(Ports, RamPortRoundTrip) {
  static uint8_t area[4096];
  tinyodlc_examples::RamArea ram{area, sizeof(area)};
  const tinyodlc::StoragePort port = tinyodlc_examples::ram_port(ram, 256, 4);
  faultsuite::fill(faultsuite::state(), 9);
  ASSERT_EQ(tinyodlc::storage::save(port, faultsuite::layout()), 0);
  faultsuite::poison(faultsuite::state());
  ASSERT_EQ(tinyodlc::storage::load(port, faultsuite::layout()), 0);
  EXPECT_EQ(faultsuite::version_of(faultsuite::state()), 9);
}

TEST(Ports, FilePortSurvivesProcessRestart) {
  const std::string path = ::testing::TempDir() + "tinyodlc_state_test.bin";
  std::remove(path.c_str());
  {
    tinyodlc_examples::FileArea f;
    ASSERT_EQ(tinyodlc_examples::file_open(f, path.c_str(), 8192), 0);
    const tinyodlc::StoragePort port = tinyodlc_examples::file_port(f);
    faultsuite::poison(faultsuite::state());
    EXPECT_EQ(tinyodlc::storage::load(port, faultsuite::layout()), 1);  // new file: no state
    for (uint32_t v = 1; v <= 3; ++v) {
      faultsuite::fill(faultsuite::state(), v);
      ASSERT_EQ(tinyodlc::storage::save(port, faultsuite::layout()), 0);
    }
    tinyodlc_examples::file_close(f);
  }
  tinyodlc_examples::FileArea f;
  ASSERT_EQ(tinyodlc_examples::file_open(f, path.c_str(), 8192), 0);
  faultsuite::poison(faultsuite::state());
  EXPECT_EQ(tinyodlc::storage::load(tinyodlc_examples::file_port(f), faultsuite::layout()), 0);
  EXPECT_EQ(faultsuite::version_of(faultsuite::state()), 3);
  tinyodlc_examples::file_close(f);
  std::remove(path.c_str());
}

}  // namespace
