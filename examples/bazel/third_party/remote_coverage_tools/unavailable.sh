#!/bin/sh
echo "remote_coverage_tools is a stand-in (examples/bazel/third_party): no coverage offline" >&2
exit 1
