"""ko_load: a `bazel run` target that loads an image into docker or podman."""

load(":export.bzl", "export_tarball")
load(":providers.bzl", "ImageInfo", "TOOLCHAIN")

def _ko_load_impl(ctx):
    if not ctx.attr.repo_tags:
        fail("ko_load %s: give repo_tags, the NAME:TAG names the image gets" % ctx.label)
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    export_tarball(
        ctx,
        ctx.attr.image[ImageInfo],
        tarball,
        tag = ctx.attr.repo_tags[0],
        platform = ctx.attr.platform,
    )
    tags = ctx.actions.declare_file(ctx.label.name + ".tags.txt")
    ctx.actions.write(tags, "\n".join(ctx.attr.repo_tags) + "\n")
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        is_executable = True,
        substitutions = {
            "{{image}}": str(ctx.attr.image.label),
            "{{tarball}}": tarball.short_path,
            "{{tags}}": tags.short_path,
        },
    )
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = [tarball, tags]),
    )]

ko_load = rule(
    doc = """`bazel run` loads the image into docker (when its daemon answers) or podman, as `rko build -L` does.

The image is exported at build time (RkoExport, a docker-save tarball); the script
only runs `docker load` / `podman load` and tags it with each of `repo_tags`. An
image on a shallow base needs `shallow = False` on its rko_base_image.""",
    implementation = _ko_load_impl,
    attrs = {
        "image": attr.label(doc = "A ko_image, or a ko_image_index with `platform`.", providers = [ImageInfo], mandatory = True),
        "repo_tags": attr.string_list(doc = "The names the loaded image gets, NAME:TAG each.", mandatory = True),
        "platform": attr.string(doc = "Which image of an index to load, OS/ARCH[/VARIANT]."),
        "_template": attr.label(default = ":load.sh.tpl", allow_single_file = True),
    },
    executable = True,
    toolchains = [TOOLCHAIN],
)
