"""Bzlmod (Bazel 7+): the rko toolchain and base images as a module extension.

    rko = use_extension("@rko//rules:extensions.bzl", "rko")
    rko.toolchain(path = "/usr/local/bin/rko")   # or urls + sha256
    rko.base_image(name = "static", reference = "cgr.dev/chainguard/static", digest = "sha256:…")
    use_repo(rko, "rko_toolchain", "static")
    register_toolchains("@rko_toolchain//:toolchain")
"""

load(":repositories.bzl", "rko_base_image", "rko_local_toolchain", "rko_release_toolchain")

_toolchain = tag_class(attrs = {
    "path": attr.string(doc = "A local rko binary."),
    "urls": attr.string_list(doc = "A release binary to download."),
    "sha256": attr.string(doc = "The release binary's sha256."),
})

_base_image = tag_class(attrs = {
    "name": attr.string(mandatory = True),
    "reference": attr.string(mandatory = True),
    "digest": attr.string(mandatory = True),
    "platforms": attr.string_list(),
    "shallow": attr.bool(default = True),
})

def _rko_impl(module_ctx):
    for mod in module_ctx.modules:
        for toolchain in mod.tags.toolchain:
            if toolchain.urls:
                rko_release_toolchain(name = "rko_toolchain", urls = toolchain.urls, sha256 = toolchain.sha256)
            else:
                rko_local_toolchain(name = "rko_toolchain", path = toolchain.path)
        for base in mod.tags.base_image:
            rko_base_image(
                name = base.name,
                reference = base.reference,
                digest = base.digest,
                platforms = base.platforms,
                shallow = base.shallow,
            )

rko = module_extension(
    implementation = _rko_impl,
    tag_classes = {"toolchain": _toolchain, "base_image": _base_image},
)
