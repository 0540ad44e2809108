#include "compiler/cli.h"

int main(int argc, char** argv) { return tinyodlc::cli_main(argc, argv); }
