"""rko's Bazel rules: OCI images of Go binaries, built by rko's hermetic actions.

    load("@rko//rules:defs.bzl", "ko_image", "ko_image_index", "ko_layer", "ko_push", "ko_load", "ko_resolve", "ko_sbom", "ko_export", "ko_image_test")
"""

load("//rules/private:export.bzl", _ko_export = "ko_export")
load("//rules/private:image.bzl", _ko_image = "ko_image")
load("//rules/private:index.bzl", _ko_image_index = "ko_image_index")
load("//rules/private:layer.bzl", _ko_layer = "ko_layer")
load("//rules/private:load.bzl", _ko_load = "ko_load")
load("//rules/private:providers.bzl", _ImageInfo = "ImageInfo", _LayerInfo = "LayerInfo", _TargetPlatformInfo = "TargetPlatformInfo")
load("//rules/private:push.bzl", _ko_push = "ko_push")
load("//rules/private:resolve.bzl", _ko_resolve = "ko_resolve")
load("//rules/private:sbom.bzl", _ko_sbom = "ko_sbom")
load("//rules/private:structure_test.bzl", _ko_image_test = "ko_image_test")
load("//rules/private:toolchain.bzl", _rko_toolchain = "rko_toolchain")

ImageInfo = _ImageInfo
LayerInfo = _LayerInfo
TargetPlatformInfo = _TargetPlatformInfo
ko_image = _ko_image
ko_image_index = _ko_image_index
ko_image_test = _ko_image_test
ko_layer = _ko_layer
ko_push = _ko_push
ko_load = _ko_load
ko_resolve = _ko_resolve
ko_sbom = _ko_sbom
ko_export = _ko_export
rko_toolchain = _rko_toolchain
