"""ko_sbom: an SPDX or CycloneDX SBOM of the Go binary in a ko_image."""

load(":providers.bzl", "ImageInfo", "SbomInfo", "TOOLCHAIN", "params_args", "rko_binary")

def _ko_sbom_impl(ctx):
    extension = {"spdx": "spdx.json", "cyclonedx": "cyclonedx.json"}[ctx.attr.format]
    out = ctx.actions.declare_file("%s.%s" % (ctx.label.name, extension))
    info = ctx.attr.image[ImageInfo]
    binary = ctx.file.binary or info.binary
    if not binary:
        fail("ko_sbom %s: %s is an image index; name one platform's ko_image (an SBOM describes one binary)" % (ctx.label, ctx.attr.image.label))
    args = params_args(ctx, "sbom")
    args.add("--binary", binary)
    args.add("--format", ctx.attr.format)
    args.add("--image-name", ctx.attr.image_name or ctx.attr.image.label.name)
    args.add("--image-digest-file", info.digest)
    args.add("--created", str(ctx.attr.created))
    args.add("--out", out)
    ctx.actions.run(
        executable = rko_binary(ctx),
        arguments = [args],
        inputs = [binary, info.digest],
        outputs = [out],
        mnemonic = "RkoSbom",
        progress_message = "RkoSbom %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([out])),
        SbomInfo(sbom = out, format = ctx.attr.format, created = ctx.attr.created, image_digest = info.digest),
    ]

ko_sbom = rule(
    doc = "Writes the SBOM of the binary in an image, read from the binary's Go build information.",
    implementation = _ko_sbom_impl,
    attrs = {
        "image": attr.label(doc = "The ko_image holding the binary.", providers = [ImageInfo], mandatory = True),
        "binary": attr.label(doc = "The Go binary; default: the one in `image` (the same file, so the SBOM cannot describe another build).", allow_single_file = True),
        "format": attr.string(doc = "spdx or cyclonedx.", default = "spdx", values = ["spdx", "cyclonedx"]),
        "image_name": attr.string(doc = "The image's name in the SBOM; default: the image target's name."),
        "created": attr.int(doc = "The document's time, seconds since the epoch.", default = 0),
    },
    toolchains = [TOOLCHAIN],
)
