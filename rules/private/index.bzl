"""ko_image_index: per-platform ko_images joined into one image index."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def _ko_image_index_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = params_args(ctx, "index")
    inputs = []
    for image in ctx.attr.images:
        info = image[ImageInfo]
        args.add("--image", info.layout.path)
        inputs.append(info.layout)
    for key, value in sorted(ctx.attr.annotations.items()):
        args.add("--annotation", "%s=%s" % (key, value))
    args.add("--out", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = rko_binary(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [layout, digest],
        mnemonic = "RkoIndex",
        progress_message = "RkoIndex %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        ImageInfo(layout = layout, digest = digest, platform = ""),
    ]

ko_image_index = rule(
    doc = "Joins single-platform ko_image targets into a multi-platform image index.",
    implementation = _ko_image_index_impl,
    attrs = {
        "images": attr.label_list(doc = "One ko_image per platform.", providers = [ImageInfo], mandatory = True),
        "annotations": attr.string_dict(doc = "Index annotations."),
    },
    toolchains = [TOOLCHAIN],
)
