"""local_go_sdk: the Go installation on this machine as a repository whose
files (the `go` command, the compiler and linker for this host, the standard
library's sources) are inputs of the build actions, and its toolchain."""

_BUILD = """load("@//go:toolchain.bzl", "go_sdk")

# What `go build` of a pure-Go program reads: the go command, the host's
# compile/asm/link, the runtime's assembly headers and the standard library.
filegroup(
    name = "files",
    srcs = glob(["VERSION", "go.env"]) + [
        "bin/go",
        "pkg/tool/{host}/asm",
        "pkg/tool/{host}/compile",
        "pkg/tool/{host}/link",
    ] + glob(
        ["pkg/include/**", "src/**"],
        exclude = ["src/cmd/**", "src/**/testdata/**", "src/**/*_test.go"],
    ),
)

go_sdk(
    name = "sdk",
    go = "bin/go",
    srcs = [":files"],
)

toolchain(
    name = "toolchain",
    exec_compatible_with = {exec_constraints},
    toolchain = ":sdk",
    toolchain_type = "@//go:toolchain_type",
)
"""

_HOST_OS = {"linux": "@platforms//os:linux", "darwin": "@platforms//os:osx"}
_HOST_CPU = {"amd64": "@platforms//cpu:x86_64", "arm64": "@platforms//cpu:aarch64"}

def _find_go(rctx):
    go = rctx.os.environ.get("GO") or rctx.which("go")
    if go:
        return rctx.path(go)
    for candidate in ["/usr/lib/go-1.23/bin/go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]:
        if rctx.path(candidate).exists:
            return rctx.path(candidate)
    fail("local_go_sdk: no Go toolchain: install Go or set GO to the go binary")

def _go_env(rctx, go, names):
    result = rctx.execute([go, "env"] + names, environment = {"GOTOOLCHAIN": "local"})
    if result.return_code != 0:
        fail("local_go_sdk: %s env failed: %s" % (go, result.stderr))
    return result.stdout.strip().split("\n")

def _local_go_sdk_impl(rctx):
    go = _find_go(rctx)
    goroot, hostos, hostarch = _go_env(rctx, go, ["GOROOT", "GOHOSTOS", "GOHOSTARCH"])
    if hostos not in _HOST_OS or hostarch not in _HOST_CPU:
        fail("local_go_sdk: this example's toolchain runs on linux or darwin, amd64 or arm64, not %s/%s" % (hostos, hostarch))
    for entry in ["bin", "pkg", "src", "VERSION", "go.env"]:
        path = rctx.path(goroot + "/" + entry)
        if path.exists:
            rctx.symlink(path, entry)
    rctx.file("BUILD.bazel", _BUILD.format(
        host = hostos + "_" + hostarch,
        exec_constraints = repr([_HOST_OS[hostos], _HOST_CPU[hostarch]]),
    ))

local_go_sdk = repository_rule(
    doc = "The Go on this machine ($GO, else `go` on PATH) as @NAME//:toolchain; register it with register_toolchains.",
    implementation = _local_go_sdk_impl,
    environ = ["GO", "PATH"],
    local = True,
)
