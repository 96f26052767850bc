"""Forwards rules_cc's macros to Bazel's native C++ rules.

Debian's bazel-rules-cc is newer than Bazel 4.2.3 understands, and
@bazel_tools only needs these names to exist.
"""

def cc_library(**kwargs):
    native.cc_library(**kwargs)

def cc_binary(**kwargs):
    native.cc_binary(**kwargs)

def cc_test(**kwargs):
    native.cc_test(**kwargs)

def cc_toolchain(**kwargs):
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    native.cc_toolchain_suite(**kwargs)
