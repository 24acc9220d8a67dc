"""The Go toolchain on this machine, for the example only: rules_go cannot be
fetched offline. It exposes `@local_go//:go`; `go_binary` below runs it."""

def _local_go_impl(rctx):
    go = rctx.os.environ.get("GO") or rctx.which("go")
    if not go:
        for candidate in ["/usr/lib/go-1.23/bin/go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]:
            if rctx.path(candidate).exists:
                go = candidate
                break
    if not go:
        fail("no Go toolchain: install Go or set GO to the go binary")
    rctx.symlink(go, "go")
    rctx.file("BUILD.bazel", 'exports_files(["go"])\n')

local_go = repository_rule(
    implementation = _local_go_impl,
    environ = ["GO", "PATH"],
    local = True,
)

def go_binary(name, module, srcs, goos = "linux", goarch = "amd64", out = None):
    """`go build -trimpath` of the main package in the directory of `module` (its go.mod)."""
    out = out or "%s/%s" % (name, "hello")
    native.genrule(
        name = name,
        srcs = srcs + [module],
        outs = [out],
        tools = ["@local_go//:go"],
        cmd = " && ".join([
            "GO=$$PWD/$(location @local_go//:go)",
            "OUT=$$PWD/$@",
            "cd $$(dirname $(location %s))" % module,
            "CGO_ENABLED=0 GOOS=%s GOARCH=%s GOFLAGS=-buildvcs=false GOTOOLCHAIN=local GOPROXY=off $$GO build -trimpath -o $$OUT ." % (goos, goarch),
        ]),
        message = "GoBuild %s" % name,
    )
