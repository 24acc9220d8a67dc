"""WORKSPACE setup: the rko toolchain and base images.

    load("@rko//rules:repositories.bzl", "rko_local_toolchain", "rko_register_toolchains")
    rko_local_toolchain(name = "rko_toolchain")     # path=..., or $RKO_BINARY
    rko_register_toolchains()
"""

_TOOLCHAIN_BUILD = """load("@rko//rules:defs.bzl", "rko_toolchain")

exports_files(["rko"])

rko_toolchain(name = "rko_toolchain", rko = ":rko")

toolchain(
    name = "toolchain",
    toolchain = ":rko_toolchain",
    toolchain_type = "@rko//rules:toolchain_type",
)
"""

def _rko_local_toolchain_impl(rctx):
    path = rctx.attr.path or rctx.os.environ.get("RKO_BINARY", "")
    if not path:
        fail("rko_local_toolchain: give path= or set RKO_BINARY to the rko binary")
    binary = rctx.path(path)
    if not binary.exists:
        fail("rko_local_toolchain: %s does not exist" % path)
    rctx.symlink(binary, "rko")
    rctx.file("BUILD.bazel", _TOOLCHAIN_BUILD)

rko_local_toolchain = repository_rule(
    doc = "An rko toolchain from a binary on this machine (development and tests).",
    implementation = _rko_local_toolchain_impl,
    attrs = {"path": attr.string(doc = "Absolute path of the rko binary; default: $RKO_BINARY.")},
    environ = ["RKO_BINARY"],
    local = True,
)

def _rko_release_toolchain_impl(rctx):
    rctx.download(url = rctx.attr.urls, output = "rko", sha256 = rctx.attr.sha256, executable = True)
    rctx.file("BUILD.bazel", _TOOLCHAIN_BUILD)

rko_release_toolchain = repository_rule(
    doc = "An rko toolchain from a released binary, pinned by sha256.",
    implementation = _rko_release_toolchain_impl,
    attrs = {
        "urls": attr.string_list(doc = "Where the release binary is.", mandatory = True),
        "sha256": attr.string(doc = "Its sha256.", mandatory = True),
    },
)

def rko_register_toolchains(name = "rko_toolchain"):
    """Registers the toolchain repository `name` (default rko_toolchain)."""
    native.register_toolchains("@%s//:toolchain" % name)

def _rko_base_image_impl(rctx):
    rko = rctx.path(rctx.attr.rko)
    reference = "%s@%s" % (rctx.attr.reference, rctx.attr.digest)
    command = [rko, "pull", reference, "--out", "layout"]
    if rctx.attr.shallow:
        command.append("--shallow")
    for platform in rctx.attr.platforms:
        command.extend(["--platform", platform])
    result = rctx.execute(command, timeout = 600)
    if result.return_code != 0:
        fail("rko pull %s failed: %s" % (reference, result.stderr))
    rctx.file("BUILD.bazel", 'exports_files(["layout"])\n')

rko_base_image = repository_rule(
    doc = "A base image pulled by digest with `rko pull` (shallow by default: layers stay in the registry); use `@NAME//:layout` as ko_image's base.",
    implementation = _rko_base_image_impl,
    attrs = {
        "reference": attr.string(doc = "The image, without tag or digest.", mandatory = True),
        "digest": attr.string(doc = "The pinned digest, sha256:<hex>.", mandatory = True),
        "platforms": attr.string_list(doc = "Platforms to keep from an index; default: all."),
        "shallow": attr.bool(doc = "Manifests and configs only.", default = True),
        "rko": attr.label(doc = "The rko binary to pull with.", default = "@rko_toolchain//:rko"),
    },
)
