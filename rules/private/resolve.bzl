"""ko_resolve: YAML with its ko:// references replaced by image digests."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def _ko_resolve_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".yaml")
    args = params_args(ctx, "resolve-yaml")
    inputs = list(ctx.files.srcs)
    for src in ctx.files.srcs:
        args.add("-f", src)
    for target, import_path in ctx.attr.images.items():
        info = target[ImageInfo]
        name = "%s/%s" % (ctx.attr.repository.rstrip("/"), import_path.rstrip("/").split("/")[-1])
        args.add("--image-digest", "%s=%s=%s" % (import_path, name, info.digest.path))
        inputs.append(info.digest)
    args.add("--strict")
    args.add("--out", out)
    ctx.actions.run(
        executable = rko_binary(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "RkoResolve",
        progress_message = "RkoResolve %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]))]

ko_resolve = rule(
    doc = "Replaces ko://IMPORTPATH in YAML with REPOSITORY/NAME@DIGEST, every other byte kept.",
    implementation = _ko_resolve_impl,
    attrs = {
        "srcs": attr.label_list(doc = "YAML files.", allow_files = [".yaml", ".yml", ".json"], mandatory = True),
        "images": attr.label_keyed_string_dict(doc = "ko_image / ko_image_index targets, each to the import path it stands for.", providers = [ImageInfo]),
        "repository": attr.string(doc = "Where the images are pushed; each is named REPOSITORY/<last element of its import path>.", mandatory = True),
    },
    toolchains = [TOOLCHAIN],
)
