"""bzl_library: a set of .bzl files and the .bzl files they load, as bazel_skylib's.

Bazel 4.2.3 offline has no bazel_skylib, so rko defines this minimal copy with
skylib's attribute names (`srcs`, `deps`) and provider fields (`srcs`,
`transitive_srcs`): a doc generator or a user's own bzl_library can depend on
rko's `.bzl` files (`@rko//rules:defs`), and switching to skylib's rule is a
change of `load` line only."""

StarlarkLibraryInfo = provider(
    doc = "The .bzl files of a bzl_library and of everything it loads.",
    fields = {
        "srcs": "The library's own .bzl files.",
        "transitive_srcs": "A depset of its .bzl files and those of its deps.",
    },
)

def _bzl_library_impl(ctx):
    transitive = depset(
        ctx.files.srcs,
        transitive = [dep[StarlarkLibraryInfo].transitive_srcs for dep in ctx.attr.deps],
    )
    return [
        DefaultInfo(files = transitive, runfiles = ctx.runfiles(transitive_files = transitive)),
        StarlarkLibraryInfo(srcs = ctx.files.srcs, transitive_srcs = transitive),
    ]

bzl_library = rule(
    doc = "A group of .bzl files and the bzl_library targets they load, as bazel_skylib's bzl_library.",
    implementation = _bzl_library_impl,
    attrs = {
        "srcs": attr.label_list(doc = "The .bzl files of the library.", allow_files = [".bzl", ".scl"]),
        "deps": attr.label_list(doc = "The bzl_library targets of the files these load.", providers = [StarlarkLibraryInfo]),
    },
)
