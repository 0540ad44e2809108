#include "compiler/cli.h"

#include <cstdio>

namespace tinyodlc {
int cli_main(int, char**) {
  std::fprintf(stderr, "tinyodlc: not yet\n");
  return 1;
}
}  // namespace tinyodlc
