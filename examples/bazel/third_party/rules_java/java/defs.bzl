"""Native Java rules under rules_java's names (an offline stand-in, see ../WORKSPACE)."""

# Buildifier's native-* warnings say to load these rules from rules_java rather
# than call the native ones; this file is that rules_java (for Bazel 4, whose
# native rules are the real ones), so each call is one it must make.

def java_binary(**attrs):
    native.java_binary(**attrs)  # buildifier: disable=native-java-binary

def java_import(**attrs):
    native.java_import(**attrs)  # buildifier: disable=native-java-import

def java_library(**attrs):
    native.java_library(**attrs)  # buildifier: disable=native-java-library

def java_runtime(**attrs):
    native.java_runtime(**attrs)  # buildifier: disable=native-java-runtime

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)  # buildifier: disable=native-java-toolchain

def java_proto_library(**attrs):
    native.java_proto_library(**attrs)  # buildifier: disable=native-java-proto
