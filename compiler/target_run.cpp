#include "compiler/target_run.h"

#include <stdexcept>

namespace tinyodlc {

std::vector<NamedTensor> run_on_target(const Compilation&, const Target& target, const std::vector<NamedTensor>&,
                                       const RunOptions&, const std::string&) {
  throw std::runtime_error("running on target '" + target.name + "' is not implemented yet");
}

}  // namespace tinyodlc
