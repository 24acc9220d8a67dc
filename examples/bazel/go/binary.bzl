"""go_binary: `go build -trimpath` of one main package for the target
platform, GOOS/GOARCH read from its @platforms constraints (or given, as
rules_go's goos/goarch attributes do). A stand-in for rules_go's go_binary:
same name, same place in a BUILD file, same output (NAME_/NAME), `data` as
runfiles."""

# (@platforms constraint, GOOS or GOARCH); the first the target platform has wins.
_GOOS = [
    ("linux", "linux"),
    ("macos", "darwin"),
    ("osx", "darwin"),
    ("windows", "windows"),
    ("freebsd", "freebsd"),
]

_GOARCH = [
    ("x86_64", "amd64"),
    ("aarch64", "arm64"),
    ("arm64", "arm64"),
    ("armv7", "arm"),
    ("x86_32", "386"),
    ("s390x", "s390x"),
    ("ppc", "ppc64le"),
    ("riscv64", "riscv64"),
]

def _from_constraints(ctx, kind, table):
    for constraint, value in table:
        target = getattr(ctx.attr, "_%s_%s" % (kind, constraint))
        if ctx.target_platform_has_constraint(target[platform_common.ConstraintValueInfo]):
            return value
    fail("go_binary %s: the target platform has no @platforms//%s constraint this rule knows; set goos and goarch" % (ctx.label, kind))

def _goos_goarch(ctx):
    if ctx.attr.goos or ctx.attr.goarch:
        if not (ctx.attr.goos and ctx.attr.goarch):
            fail("go_binary %s: give both goos and goarch, or neither" % ctx.label)
        return ctx.attr.goos, ctx.attr.goarch
    return _from_constraints(ctx, "os", _GOOS), _from_constraints(ctx, "cpu", _GOARCH)

def _go_binary_impl(ctx):
    sdk = ctx.toolchains["//go:toolchain_type"]
    goos, goarch = _goos_goarch(ctx)
    modules = [f for f in ctx.files.srcs if f.basename == "go.mod"]
    if len(modules) != 1:
        fail("go_binary %s: srcs must hold the package's go.mod (it has %d)" % (ctx.label, len(modules)))
    out = ctx.actions.declare_file("%s_/%s" % (ctx.label.name, ctx.label.name))

    # build.sh's arguments, one a line in a params file (GOROOT holds thousands of files).
    args = ctx.actions.args()
    args.add_all([sdk.goroot, out, goos, goarch, modules[0].dirname])
    args.add_all(sdk.files)
    args.add_all(ctx.files.srcs)
    args.use_param_file("%s", use_always = True)
    args.set_param_file_format("multiline")
    ctx.actions.run(
        executable = ctx.executable._build,
        arguments = [args],
        inputs = depset(ctx.files.srcs, transitive = [sdk.files]),
        outputs = [out],
        # Fixed, so the action's key does not depend on the machine's PATH.
        env = {"PATH": "/usr/bin:/bin"},
        mnemonic = "GoBuild",
        progress_message = "GoBuild %s for %s/%s" % (ctx.label, goos, goarch),
    )
    return [DefaultInfo(
        files = depset([out]),
        executable = out,
        runfiles = ctx.runfiles(files = ctx.files.data),
    )]

def _constraint_attrs():
    attrs = {}
    for kind, table in [("os", _GOOS), ("cpu", _GOARCH)]:
        for constraint, _ in table:
            attrs["_%s_%s" % (kind, constraint)] = attr.label(default = "@platforms//%s:%s" % (kind, constraint))
    return attrs

go_binary = rule(
    doc = "Builds the main package in the directory of the go.mod among `srcs` (CGO_ENABLED=0, -trimpath) into NAME_/NAME.",
    implementation = _go_binary_impl,
    attrs = dict({
        "srcs": attr.label_list(doc = "The package's files and its go.mod (and go.sum, embedded files).", allow_files = True, mandatory = True),
        "goos": attr.string(doc = "GOOS, instead of the target platform's (with goarch)."),
        "goarch": attr.string(doc = "GOARCH, instead of the target platform's (with goos)."),
        "data": attr.label_list(doc = "Files the program reads at run time: its runfiles.", allow_files = True),
        "_build": attr.label(default = Label("//go:build.sh"), allow_single_file = True, executable = True, cfg = "exec"),
    }, **_constraint_attrs()),
    toolchains = ["//go:toolchain_type"],
    executable = True,
)
