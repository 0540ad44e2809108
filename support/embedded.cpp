#include "support/embedded.h"

#include <stdexcept>

namespace tinyodlc {

std::string_view embedded_file(std::string_view path) {
  for (const auto& f : embedded_files())
    if (f.path == path) return f.data;
  throw std::out_of_range("internal error: file not embedded: " + std::string(path));
}

}  // namespace tinyodlc
