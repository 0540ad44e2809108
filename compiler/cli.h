// The `tinyodlc` command-line interface.
#pragma once

namespace tinyodlc {
int cli_main(int argc, char** argv);
}
