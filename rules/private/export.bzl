"""ko_export: an image as a tarball for `podman load` / `docker load`."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def _ko_export_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    info = ctx.attr.image[ImageInfo]
    args = params_args(ctx, "export")
    args.add(info.layout.path)
    args.add("--format", ctx.attr.format)
    if ctx.attr.repo_tag:
        args.add("--tag", ctx.attr.repo_tag)
    args.add("--out", out)
    ctx.actions.run(
        executable = rko_binary(ctx),
        arguments = [args],
        inputs = [info.layout],
        outputs = [out],
        mnemonic = "RkoExport",
        progress_message = "RkoExport %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([out]))]

ko_export = rule(
    doc = "Exports an image as a docker-save tarball (one platform) or an OCI archive.",
    implementation = _ko_export_impl,
    attrs = {
        "image": attr.label(doc = "A ko_image or ko_image_index.", providers = [ImageInfo], mandatory = True),
        "format": attr.string(doc = "docker or oci.", default = "docker", values = ["docker", "oci"]),
        "repo_tag": attr.string(doc = "REPO:TAG the loaded image gets."),
    },
    toolchains = [TOOLCHAIN],
)
