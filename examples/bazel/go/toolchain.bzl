"""go_sdk: the Go toolchain, a `go` command and the files of its GOROOT."""

def _go_sdk_impl(ctx):
    go = ctx.file.go
    if go.dirname.rsplit("/", 1)[-1] != "bin":
        fail("go_sdk %s: go must be GOROOT/bin/go, not %s" % (ctx.label, go.path))
    return [platform_common.ToolchainInfo(
        go = go,
        goroot = go.dirname.rsplit("/", 1)[0],
        files = depset([go], transitive = [f.files for f in ctx.attr.srcs]),
    )]

go_sdk = rule(
    doc = "A Go installation for //go:toolchain_type: `go` is GOROOT/bin/go, `srcs` what go build reads from GOROOT.",
    implementation = _go_sdk_impl,
    attrs = {
        "go": attr.label(doc = "GOROOT/bin/go.", allow_single_file = True, mandatory = True),
        "srcs": attr.label_list(doc = "The files of GOROOT that builds read.", allow_files = True),
    },
)
