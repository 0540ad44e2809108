// Small text helpers shared by the reports (memory.svg, run summaries).
#pragma once

#include <cstdint>
#include <string>

namespace tinyodlc {

// 1234567 -> "1,234,567" (a comma every three digits, whatever the locale).
inline std::string group_thousands(uint64_t n) {
  const std::string d = std::to_string(n);
  std::string r;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i && (d.size() - i) % 3 == 0) r += ',';
    r += d[i];
  }
  return r;
}

}  // namespace tinyodlc
