"""ko_image_index: per-platform ko_images joined into one image index."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def index_action(ctx, name, layouts, annotations, annotations_file = None):
    """Runs `rko index` over `layouts` into the layout `name`.

    Args:
      ctx: the rule context (its toolchain runs rko).
      name: the output layout's name; its digest file is NAME.digest.
      layouts: the image layouts, in the order the index lists them.
      annotations: a dict of index annotations.
      annotations_file: a file of more, K=V lines (stamped ones), or None.

    Returns:
      (layout, digest file) of the index.
    """
    layout = ctx.actions.declare_directory(name)
    digest = ctx.actions.declare_file(name + ".digest")
    args = params_args(ctx, "index")
    for image in layouts:
        args.add("--image", image.path)
    inputs = list(layouts)
    if annotations_file:
        args.add("--annotations-file", annotations_file)
        inputs.append(annotations_file)
    for key, value in sorted(annotations.items()):
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
    return layout, digest

def _ko_image_index_impl(ctx):
    layout, digest = index_action(
        ctx,
        ctx.label.name,
        [image[ImageInfo].layout for image in ctx.attr.images],
        ctx.attr.annotations,
    )
    layers = depset(transitive = [image[ImageInfo].layers for image in ctx.attr.images])
    return [
        DefaultInfo(files = depset([layout, digest])),
        ImageInfo(layout = layout, digest = digest, platform = "", binary = None, layers = layers),
    ]

ko_image_index = rule(
    doc = "Joins single-platform ko_image targets into a multi-platform image index. For one binary on several platforms, ko_image(platforms = [...]) does this in one target.",
    implementation = _ko_image_index_impl,
    attrs = {
        "images": attr.label_list(doc = "One ko_image per platform.", providers = [ImageInfo], mandatory = True),
        "annotations": attr.string_dict(doc = "Index annotations."),
    },
    toolchains = [TOOLCHAIN],
)
