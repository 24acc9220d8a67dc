"""WORKSPACE setup: the rko toolchain and base images.

    load("@rko//rules:repositories.bzl", "rko_local_toolchain", "rko_register_toolchains")
    rko_local_toolchain(name = "rko_toolchain")     # path=..., or $RKO_BINARY
    rko_register_toolchains()

A toolchain says which exec platform its binary runs on (`exec_compatible_with`), so
Bazel picks it only for actions that run there: a local binary declares this machine,
a release binary the platform it was built for. Declare one release toolchain per exec
platform and register them all: `rko_register_toolchains("rko_linux_amd64", "rko_linux_arm64")`.
"""

_TOOLCHAIN_BUILD = """load("@rko//rules:defs.bzl", "rko_toolchain")

exports_files(["rko"])

rko_toolchain(name = "rko_toolchain", rko = ":rko")

toolchain(
    name = "toolchain",
    exec_compatible_with = {exec_compatible_with},
    toolchain = ":rko_toolchain",
    toolchain_type = "@rko//rules:toolchain_type",
)
"""

# `uname -m` to the @platforms CPU it is.
_CPUS = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv7l": "armv7",
    "i386": "x86_32",
    "i686": "x86_32",
    "s390x": "s390x",
    "ppc64le": "ppc",
    "riscv64": "riscv64",
}

def _host_constraints(rctx):
    """This machine's OS and CPU as @platforms constraints: where a local rko runs."""
    name = rctx.os.name.lower()
    if name.startswith("linux"):
        os = "linux"
    elif name.startswith("mac"):
        os = "macos"
    elif name.startswith("windows"):
        os = "windows"
    else:
        fail("rko_local_toolchain: unknown OS %r: give exec_compatible_with" % rctx.os.name)
    machine = rctx.execute(["uname", "-m"]).stdout.strip()
    if machine not in _CPUS:
        fail("rko_local_toolchain: unknown CPU %r (uname -m): give exec_compatible_with" % machine)
    return ["@platforms//os:" + os, "@platforms//cpu:" + _CPUS[machine]]

def _toolchain_build(constraints):
    return _TOOLCHAIN_BUILD.format(exec_compatible_with = repr(constraints))

def _rko_local_toolchain_impl(rctx):
    path = rctx.attr.path or rctx.os.environ.get("RKO_BINARY", "")
    if not path:
        fail("rko_local_toolchain: give path= or set RKO_BINARY to the rko binary")
    binary = rctx.path(path)
    if not binary.exists:
        fail("rko_local_toolchain: %s does not exist" % path)
    rctx.symlink(binary, "rko")
    constraints = rctx.attr.exec_compatible_with or _host_constraints(rctx)
    rctx.file("BUILD.bazel", _toolchain_build(constraints))

rko_local_toolchain = repository_rule(
    doc = "An rko toolchain from a binary on this machine (development and tests); it runs on this machine's OS and CPU.",
    implementation = _rko_local_toolchain_impl,
    attrs = {
        "path": attr.string(doc = "Absolute path of the rko binary; default: $RKO_BINARY."),
        "exec_compatible_with": attr.string_list(doc = "Constraints of the exec platform the binary runs on; default: this machine's OS and CPU."),
    },
    environ = ["RKO_BINARY"],
    local = True,
)

def _rko_release_toolchain_impl(rctx):
    rctx.download(url = rctx.attr.urls, output = "rko", sha256 = rctx.attr.sha256, executable = True)
    rctx.file("BUILD.bazel", _toolchain_build(rctx.attr.exec_compatible_with))

rko_release_toolchain = repository_rule(
    doc = "An rko toolchain from a released binary, pinned by sha256; declare one per exec platform.",
    implementation = _rko_release_toolchain_impl,
    attrs = {
        "urls": attr.string_list(doc = "Where the release binary is.", mandatory = True),
        "sha256": attr.string(doc = "Its sha256.", mandatory = True),
        "exec_compatible_with": attr.string_list(
            doc = "Constraints of the exec platform the binary runs on.",
            default = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
        ),
    },
)

def rko_register_toolchains(*names, name = "rko_toolchain"):
    """Registers the toolchain repositories `names` (default: `name`, rko_toolchain), one per exec platform.

    Args:
      *names: toolchain repositories (rko_local_toolchain or rko_release_toolchain), one per exec platform.
      name: the one repository to register when `names` is empty.
    """
    for repository in (names or [name]):
        native.register_toolchains("@%s//:toolchain" % repository)

def _layout_files(layout):
    """{path in the layout: path in the repository} for every file of the pulled layout."""
    files = {}
    for entry in layout.readdir():
        if entry.basename != "blobs":
            files[entry.basename] = "layout/" + entry.basename
            continue
        for algorithm in entry.readdir():
            for blob in algorithm.readdir():
                path = "blobs/%s/%s" % (algorithm.basename, blob.basename)
                files[path] = "layout/" + path
    return files

def _base_build(files):
    lines = [
        'load("@rko//rules/private:base_layout.bzl", "rko_layout")',
        "",
        "# Every file of the layout is listed, so that Bazel hashes each: a new digest",
        "# changes what the images on this base are built from.",
        "rko_layout(",
        '    name = "layout",',
        "    files = {",
    ]
    for dest in sorted(files):
        lines.append("        %r: %r," % (files[dest], dest))
    lines.extend(["    },", '    visibility = ["//visibility:public"],', ")", ""])
    return "\n".join(lines)

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
    rctx.file("BUILD.bazel", _base_build(_layout_files(rctx.path("layout"))))

rko_base_image = repository_rule(
    doc = """A base image pulled by digest with `rko pull`; use `@NAME//:layout` as ko_image's `base`.

Shallow by default: manifests and configs only, the layers stay in the registry
(`rko push` mounts them from there), so `ko_export` and `ko_load` of an image on it
need `shallow = False`. Every file of the layout is an input Bazel tracks, so a new
`digest` rebuilds the images on it, without `bazel clean`.""",
    implementation = _rko_base_image_impl,
    attrs = {
        "reference": attr.string(doc = "The image, without tag or digest.", mandatory = True),
        "digest": attr.string(doc = "The pinned digest, sha256:<hex>.", mandatory = True),
        "platforms": attr.string_list(doc = "Platforms to keep from an index; default: all."),
        "shallow": attr.bool(doc = "Manifests and configs only (the layers stay in the registry); False to export or load the images.", default = True),
        "rko": attr.label(doc = "The rko binary to pull with.", default = "@rko_toolchain//:rko"),
    },
)
