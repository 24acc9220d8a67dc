"""ko_load: a `bazel run` target that loads an image into docker or podman."""

load(":export.bzl", "export_tarball")
load(":providers.bzl", "ImageInfo", "TOOLCHAIN")
load(":stamp.bzl", "STAMP_ATTRS", "has_placeholder", "stamp_file", "stamping")

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

    # Unstamped placeholders cannot name an image: the script says to build
    # with --stamp, and there is no tarball to build.
    tarball_path = ""
    if stamping(ctx) or not has_placeholder(ctx.attr.repo_tags):
        tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
        export_tarball(
            ctx,
            ctx.attr.image[ImageInfo],
            tarball,
            tag_file = tags,
            platform = ctx.attr.platform,
        )
        tarball_path = tarball.short_path
        files.append(tarball)
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        is_executable = True,
        substitutions = {
            "{{image}}": str(ctx.attr.image.label),
            "{{label}}": str(ctx.label),
            "{{tarball}}": tarball_path,
            "{{tags}}": tags.short_path,
        },
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = files),
    )]

ko_load = rule(
    doc = """`bazel run` loads the image into docker (when its daemon answers) or podman, as `rko build -L` does.

The image is exported at build time (RkoExport, a docker-save tarball); the script
only runs `docker load` / `podman load` and tags it with each of `repo_tags`. An
image on a shallow base needs `shallow = False` on its rko_base_image.

Under `--stamp` (or `stamp = 1`) each `{KEY}` in a tag is replaced by KEY's value
from Bazel's status files, as ko_push's tags are. Unstamped, a tag with a
placeholder makes `bazel run` fail naming `--stamp` (the build itself succeeds).""",
    implementation = _ko_load_impl,
    attrs = dict({
        "image": attr.label(doc = "A ko_image, or a ko_image_index with `platform`.", providers = [ImageInfo], mandatory = True),
        "repo_tags": attr.string_list(doc = "The names the loaded image gets, NAME:TAG each; may hold `{KEY}` stamp placeholders.", mandatory = True),
        "platform": attr.string(doc = "Which image of an index to load, OS/ARCH[/VARIANT]."),
        "_template": attr.label(default = ":load.sh.tpl", allow_single_file = True),
    }, **STAMP_ATTRS),
    executable = True,
    toolchains = [TOOLCHAIN],
)
