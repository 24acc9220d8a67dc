"""ko_export: an image as a tarball for `podman load` / `docker load`."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def export_tarball(ctx, image, out, format = "docker", tag = "", platform = "", tag_file = None):
    """Runs `rko export` (mnemonic RkoExport) on the layout of `image` (an ImageInfo) into `out`.

    Args:
      ctx: the rule's context (it needs rko's toolchain).
      image: the ImageInfo of the image or index.
      out: the tarball to write.
      format: docker or oci.
      tag: REPO:TAG the loaded image gets.
      platform: which image of an index (docker format).
      tag_file: instead of `tag`, a file whose first line is the tag (a stamped one).
    """
    args = params_args(ctx, "export")
    args.add(image.layout.path)
    args.add("--format", format)
    inputs = [image.layout]
    if tag_file:
        args.add("--tag-file", tag_file)
        inputs.append(tag_file)
    elif tag:
        args.add("--tag", tag)
    if platform:
        args.add("--platform", platform)
    for layer in image.layers.to_list():
        args.add("--layer", "%s=%s" % (layer.blob.path, layer.descriptor.path))
        inputs.extend([layer.blob, layer.descriptor])
    args.add("--out", out)
    ctx.actions.run(
        executable = rko_binary(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "RkoExport",
        progress_message = "RkoExport %s" % ctx.label,
    )

def _ko_export_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    export_tarball(
        ctx,
        ctx.attr.image[ImageInfo],
        out,
        format = ctx.attr.format,
        tag = ctx.attr.repo_tag,
        platform = ctx.attr.platform,
    )
    return [DefaultInfo(files = depset([out]))]

ko_export = rule(
    doc = """Exports an image as a docker-save tarball (one platform) or an OCI archive.

An image on a shallow base (rko_base_image's default) has no base layers to export:
set `shallow = False` on that rko_base_image.""",
    implementation = _ko_export_impl,
    attrs = {
        "image": attr.label(doc = "A ko_image or ko_image_index.", providers = [ImageInfo], mandatory = True),
        "format": attr.string(doc = "docker or oci.", default = "docker", values = ["docker", "oci"]),
        "repo_tag": attr.string(doc = "REPO:TAG the loaded image gets."),
        "platform": attr.string(doc = "Which image of an index to export (docker format), OS/ARCH[/VARIANT]."),
    },
    toolchains = [TOOLCHAIN],
)
