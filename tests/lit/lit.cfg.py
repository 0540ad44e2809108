# lit configuration for the tinyodlc textual-IR tests (tests/lit/**/*.tir).
#
# Run through ctest (`ctest -L lit`), or by hand:
#   python3 /usr/lib/llvm-14/build/utils/lit/lit.py -v <build>/tests/lit
#   python3 /usr/lib/llvm-14/build/utils/lit/lit.py -v tests/lit --param tinyodlc_bin_dir=<build>
# The build directory holds lit.site.cfg.py (configured by CMake), which sets the binary
# directory and loads this file.
import os
import re

import lit.formats

config.name = 'tinyodlc'
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = ['.tir']
config.excludes = ['Inputs']
config.test_source_root = os.path.dirname(os.path.abspath(__file__))

bin_dir = (getattr(config, 'tinyodlc_bin_dir', None) or lit_config.params.get('tinyodlc_bin_dir')
           or os.environ.get('TINYODLC_BIN_DIR'))
if not bin_dir:
    lit_config.fatal('tinyodlc binary directory unknown: run lit on <build>/tests/lit, or pass '
                     '--param tinyodlc_bin_dir=<build>')
bin_dir = os.path.abspath(bin_dir)
config.test_exec_root = os.path.join(bin_dir, 'tests', 'lit')

llvm_tools_dir = getattr(config, 'llvm_tools_dir', None) or '/usr/lib/llvm-14/bin'
config.environment['PATH'] = os.pathsep.join([bin_dir, llvm_tools_dir, os.environ.get('PATH', '')])


def tool(name, path):
    # Replace the bare tool name in RUN lines (not as part of a longer word or path).
    if not os.path.exists(path):
        lit_config.fatal('missing tool %s (expected at %s)' % (name, path))
    config.substitutions.append((r'(?<![\w./%-])' + re.escape(name) + r'(?![\w.-])', path))


tool('tinyodlc-opt', os.path.join(bin_dir, 'tinyodlc-opt'))
tool('FileCheck', os.path.join(llvm_tools_dir, 'FileCheck'))
tool('not', os.path.join(llvm_tools_dir, 'not'))
tool('count', os.path.join(llvm_tools_dir, 'count'))
tool('split-file', os.path.join(llvm_tools_dir, 'split-file'))

# ONNX node-test models (../shared/onnx-node-tests beside the checkout), for .onnx input tests.
node_tests = os.path.normpath(os.path.join(config.test_source_root, '..', '..', '..', 'shared',
                                           'onnx-node-tests', 'node'))
if os.path.isdir(node_tests):
    config.available_features.add('onnx-node-tests')
    config.substitutions.append(('%onnx-node-tests', node_tests))
