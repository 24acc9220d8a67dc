"""ko_load: a `bazel run` target that loads an image into docker or podman."""

load(":export.bzl", "export_tarball")
load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "rko_binary")
load(":stamp.bzl", "STAMP_ATTRS", "has_placeholder", "stamp_file", "stamping")
load(":strategy.bzl", "STRATEGY_ATTRS", "hints_file", "is_lazy", "remote_cache_substitutions")

def _tags_file(ctx):
    """repo_tags, one a line: stamped when the build stamps and a tag has a placeholder."""
    tags = ctx.actions.declare_file(ctx.label.name + ".tags.txt")
    ctx.actions.write(tags, "\n".join(ctx.attr.repo_tags) + "\n")
    if not stamping(ctx) or not has_placeholder(ctx.attr.repo_tags):
        return tags
    stamped = ctx.actions.declare_file(ctx.label.name + ".stamped-tags.txt")
    stamp_file(ctx, tags, stamped)
    return stamped

def _ko_load_impl(ctx):
    if not ctx.attr.repo_tags:
        fail("ko_load %s: give repo_tags, the NAME:TAG names the image gets" % ctx.label)
    tags = _tags_file(ctx)
    files = [tags]
    info = ctx.attr.image[ImageInfo]
    substitutions = {
        "{{image}}": str(ctx.attr.image.label),
        "{{label}}": str(ctx.label),
        "{{tarball}}": "",
        "{{tags}}": tags.short_path,
        "{{rko}}": "",
        "{{layout}}": "",
        "{{platform}}": ctx.attr.platform,
        "{{hints}}": "",
    }
    substitutions.update(remote_cache_substitutions(ctx))
    if is_lazy(ctx, "ko_load"):
        # The export runs at `bazel run` time, from the sparse layout and
        # the blobs where a local build left them, else the remote cache.
        rko = rko_binary(ctx)
        hints = hints_file(ctx, info.layers.to_list())
        substitutions.update({
            "{{rko}}": rko.short_path,
            "{{layout}}": info.layout.short_path,
            "{{hints}}": hints.short_path,
        })
        files.extend([rko, info.layout, hints])
    elif stamping(ctx) or not has_placeholder(ctx.attr.repo_tags):
        # Unstamped placeholders cannot name an image: the script says to
        # build with --stamp, and there is no tarball to build.
        tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
        export_tarball(
            ctx,
            info,
            tarball,
            tag_file = tags,
            platform = ctx.attr.platform,
        )
        substitutions["{{tarball}}"] = tarball.short_path
        files.append(tarball)
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        is_executable = True,
        substitutions = substitutions,
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = files),
    )]

ko_load = rule(
    doc = """`bazel run` loads the image into docker (when its daemon answers) or podman, as `rko build -L` does.

The image is exported at build time (RkoExport, a docker-save tarball); the script
only runs `docker load` / `podman load` and tags it with each of `repo_tags`. With
`strategy = "lazy"` the export runs in the script instead, from the image's sparse
layout and its layer blobs where a local build left them, else read from the remote
cache: no layer is downloaded at build time. An image on a shallow base needs
`shallow = False` on its rko_base_image.

Under `--stamp` (or `stamp = 1`) each `{KEY}` in a tag is replaced by KEY's value
from Bazel's status files, as ko_push's tags are. Unstamped, a tag with a
placeholder makes `bazel run` fail naming `--stamp` (the build itself succeeds).""",
    implementation = _ko_load_impl,
    attrs = dict({
        "image": attr.label(doc = "A ko_image, or a ko_image_index with `platform`.", providers = [ImageInfo], mandatory = True),
        "repo_tags": attr.string_list(doc = "The names the loaded image gets, NAME:TAG each; may hold `{KEY}` stamp placeholders.", mandatory = True),
        "platform": attr.string(doc = "Which image of an index to load, OS/ARCH[/VARIANT]."),
        "_template": attr.label(default = ":load.sh.tpl", allow_single_file = True),
    }, **dict(STAMP_ATTRS, **STRATEGY_ATTRS)),
    executable = True,
    toolchains = [TOOLCHAIN],
)
