"""The platform transition: a dependency built once for each target of the
rule's `platforms` attribute, as rules_oci's `oci_image_index` and rules_img's
`image_from_binary` do."""

_PLATFORMS = "//command_line_option:platforms"

def _platforms_transition_impl(settings, attr):
    if not attr.platforms:
        # No platforms: the current configuration. (Bazel 4 refuses a split
        # into nothing, so this is a split into one, unchanged.)
        return {"": {_PLATFORMS: [str(p) for p in settings[_PLATFORMS]]}}
    return {str(p): {_PLATFORMS: str(p)} for p in attr.platforms}

platforms_transition = transition(
    implementation = _platforms_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

# What a rule using a Starlark transition must carry (Bazel 4).
TRANSITION_ALLOWLIST = {
    "_allowlist_function_transition": attr.label(
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
}
