// Fixture: an upward include that check_layers.py must reject (ctest layers-negative).
#include "backends/cpp_emitter.h"
