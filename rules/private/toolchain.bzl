"""The rko toolchain: which rko binary the actions run."""

def _rko_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(rko = ctx.executable.rko)]

rko_toolchain = rule(
    doc = "Declares an rko binary for the `@rko//rules:toolchain_type` toolchain type.",
    implementation = _rko_toolchain_impl,
    attrs = {
        "rko": attr.label(
            doc = "The rko executable.",
            executable = True,
            allow_single_file = True,
            cfg = "exec",
            mandatory = True,
        ),
    },
)
