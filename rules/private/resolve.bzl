"""ko_resolve: YAML with its ko:// references replaced by image digests."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

# ko_resolve's naming to `rko name --naming`: rko build's default and its -B, -P, --bare.
_NAMING = {
    "default": "default",
    "base_import_paths": "base-import-paths",
    "preserve_import_paths": "preserve-import-paths",
    "bare": "bare",
}

def _images_map(ctx, rko):
    """`rko name` (RkoName): each image's NAME@DIGEST under `repository`, named as rko build names it."""
    images = ctx.actions.declare_file(ctx.label.name + ".images.json")
    args = params_args(ctx, "name")
    args.add("--repository", ctx.attr.repository.rstrip("/"))
    args.add("--naming", _NAMING[ctx.attr.naming])
    inputs = []
    for target, import_path in ctx.attr.images.items():
        info = target[ImageInfo]
        args.add("--image-digest", "%s=%s" % (import_path, info.digest.path))
        inputs.append(info.digest)
    args.add("--out", images)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = inputs,
        outputs = [images],
        mnemonic = "RkoName",
        progress_message = "RkoName %s" % ctx.label,
    )
    return images

def _ko_resolve_impl(ctx):
    rko = rko_binary(ctx)
    images = _images_map(ctx, rko)
    out = ctx.actions.declare_file(ctx.label.name + ".yaml")
    args = params_args(ctx, "resolve-yaml")
    for src in ctx.files.srcs:
        args.add("-f", src)
    args.add("--images", images)
    args.add("--strict")
    args.add("--out", out)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = ctx.files.srcs + [images],
        outputs = [out],
        mnemonic = "RkoResolve",
        progress_message = "RkoResolve %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]))]

ko_resolve = rule(
    doc = """Replaces ko://IMPORTPATH in YAML with NAME@DIGEST, every other byte kept.

NAME is what `rko build` / `rko resolve` name the image with KO_DOCKER_REPO = `repository`:
`rko name` computes it, so the two cannot differ.""",
    implementation = _ko_resolve_impl,
    attrs = {
        "srcs": attr.label_list(doc = "YAML files.", allow_files = [".yaml", ".yml", ".json"], mandatory = True),
        "images": attr.label_keyed_string_dict(doc = "ko_image / ko_image_index targets, each to the import path it stands for.", providers = [ImageInfo]),
        "repository": attr.string(doc = "Where the images are pushed, as KO_DOCKER_REPO.", mandatory = True),
        "naming": attr.string(
            doc = "How images are named under `repository`, as rko build: `default` (<last element>-<md5 of the import path>), `base_import_paths` (-B: <last element>), `preserve_import_paths` (-P: the import path), `bare` (--bare: `repository` itself).",
            default = "default",
            values = ["default", "base_import_paths", "preserve_import_paths", "bare"],
        ),
    },
    toolchains = [TOOLCHAIN],
)
