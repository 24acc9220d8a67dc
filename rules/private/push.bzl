"""ko_push: a `bazel run` target that pushes an image or index with rko push."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "rko_binary")

_SCRIPT = """#!/usr/bin/env bash
# Pushes {image}. Flags: --repository REPO and --tag TAG (repeatable)
# replace the defaults; anything else goes to rko push.
set -euo pipefail
repository={repository}
tags=({tags})
custom_tags=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --repository) repository="$2"; shift 2 ;;
        --repository=*) repository="${{1#*=}}"; shift ;;
        --tag) custom_tags+=("$2"); shift 2 ;;
        --tag=*) custom_tags+=("${{1#*=}}"); shift ;;
        *) extra+=("$1"); shift ;;
    esac
done
[ ${{#custom_tags[@]}} -gt 0 ] && tags=("${{custom_tags[@]}}")
[ -n "$repository" ] || {{ echo "ko_push: no repository: set repository= or pass --repository" >&2; exit 2; }}
args=(push ./{layout} "$repository:${{tags[0]}}")
for tag in "${{tags[@]:1}}"; do args+=(--tag "$tag"); done
exec ./{rko} "${{args[@]}}" ${{extra[@]+"${{extra[@]}}"}}
"""

def _ko_push_impl(ctx):
    rko = rko_binary(ctx)
    info = ctx.attr.image[ImageInfo]
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        is_executable = True,
        content = _SCRIPT.format(
            image = ctx.attr.image.label,
            repository = repr(ctx.attr.repository) if ctx.attr.repository else "''",
            tags = " ".join([repr(t) for t in ctx.attr.remote_tags]),
            layout = info.layout.short_path,
            rko = rko.short_path,
        ),
    )
    runfiles = ctx.runfiles(files = [rko, info.layout, info.digest])
    return [DefaultInfo(executable = script, runfiles = runfiles)]

ko_push = rule(
    doc = "`bazel run` pushes the image or index; --repository and --tag override the attributes.",
    implementation = _ko_push_impl,
    attrs = {
        "image": attr.label(doc = "A ko_image or ko_image_index.", providers = [ImageInfo], mandatory = True),
        "repository": attr.string(doc = "registry/repository to push to."),
        "remote_tags": attr.string_list(doc = "Tags to push (`tags` of the ko_push macro).", default = ["latest"]),
    },
    executable = True,
    toolchains = [TOOLCHAIN],
)
