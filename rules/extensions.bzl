"""Bzlmod (Bazel 7+): the rko toolchain and base images as a module extension.

    rko = use_extension("@rko//rules:extensions.bzl", "rko")
    rko.toolchain(path = "/usr/local/bin/rko")   # or urls + sha256
    rko.base_image(name = "static", reference = "cgr.dev/chainguard/static", digest = "sha256:…")
    use_repo(rko, "rko_toolchain", "static")
    register_toolchains("@rko_toolchain//:toolchain")

Every module may declare a toolchain: the first one wins, in Bazel's module order
(the root module first, then its dependencies breadth-first), so the root module
chooses and two modules never both create `rko_toolchain`. Base images are shared
by name: the same name declared twice must be the same image.
"""

load(":repositories.bzl", "rko_base_image", "rko_local_toolchain", "rko_release_toolchain")

_toolchain = tag_class(
    doc = "The rko binary the actions run; the root module's wins.",
    attrs = {
        "path": attr.string(doc = "A local rko binary."),
        "urls": attr.string_list(doc = "A release binary to download."),
        "sha256": attr.string(doc = "The release binary's sha256."),
        "exec_compatible_with": attr.string_list(doc = "Constraints of the exec platform the binary runs on; default: this machine's (path) or linux/x86_64 (urls)."),
    },
)

_base_image = tag_class(
    doc = "A base image pulled by digest (rko_base_image).",
    attrs = {
        "name": attr.string(doc = "The repository name: `@NAME//:layout`.", mandatory = True),
        "reference": attr.string(doc = "The image, without tag or digest.", mandatory = True),
        "digest": attr.string(doc = "The pinned digest, sha256:<hex>.", mandatory = True),
        "platforms": attr.string_list(doc = "Platforms to keep from an index; default: all."),
        "shallow": attr.bool(doc = "Manifests and configs only.", default = True),
    },
)

def _first_toolchain(modules):
    """The first toolchain tag in module order (the root module's, if it has one)."""
    for mod in modules:
        for toolchain in mod.tags.toolchain:
            return toolchain
    return None

def _base_images(modules):
    """{name: tag} of every base image, each name once; a name reused for another image fails."""
    bases = {}
    declared_by = {}
    for mod in modules:
        for base in mod.tags.base_image:
            key = (base.reference, base.digest, tuple(base.platforms), base.shallow)
            if base.name in bases:
                previous = bases[base.name]
                if (previous.reference, previous.digest, tuple(previous.platforms), previous.shallow) != key:
                    fail("rko.base_image %r is declared by %s and by %s as different images: rename one" % (base.name, declared_by[base.name], mod.name))
                continue
            bases[base.name] = base
            declared_by[base.name] = mod.name
    return bases

def _rko_impl(module_ctx):
    toolchain = _first_toolchain(module_ctx.modules)
    if toolchain and toolchain.urls:
        rko_release_toolchain(
            name = "rko_toolchain",
            urls = toolchain.urls,
            sha256 = toolchain.sha256,
            **({"exec_compatible_with": toolchain.exec_compatible_with} if toolchain.exec_compatible_with else {})
        )
    elif toolchain:
        rko_local_toolchain(
            name = "rko_toolchain",
            path = toolchain.path,
            exec_compatible_with = toolchain.exec_compatible_with,
        )
    for name, base in _base_images(module_ctx.modules).items():
        rko_base_image(
            name = name,
            reference = base.reference,
            digest = base.digest,
            platforms = base.platforms,
            shallow = base.shallow,
        )

rko = module_extension(
    doc = "rko's toolchain (`rko_toolchain`) and base images for bzlmod.",
    implementation = _rko_impl,
    tag_classes = {"toolchain": _toolchain, "base_image": _base_image},
)
