"""ko_push: a `bazel run` target that pushes an image or index with rko push."""

load(":providers.bzl", "ImageInfo", "SbomInfo", "TOOLCHAIN", "rko_binary")
load(":stamp.bzl", "STAMP_ATTRS", "stamp_file", "stamping")
load(":strategy.bzl", "STRATEGY_ATTRS", "hints_file", "is_lazy", "remote_cache_substitutions")

# What a repository may hold: it is written into the script as it is.
_REPOSITORY_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/[]"

def _check_repository(ctx, repository):
    for character in repository.elems():
        if character not in _REPOSITORY_CHARACTERS:
            fail("ko_push %s: repository %r has %r: give registry/repository, without tag or digest" % (ctx.label, repository, character))
    last = repository.rsplit("/", 1)[-1]
    if "@" in repository or ":" in last:
        fail("ko_push %s: repository %r: give registry/repository, without tag or digest (tags go in tags or remote_tags)" % (ctx.label, repository))

def _repositories(ctx):
    """`repository`, then `repositories`: each checked, none twice."""
    repositories = ([ctx.attr.repository] if ctx.attr.repository else []) + ctx.attr.repositories
    seen = {}
    for repository in repositories:
        _check_repository(ctx, repository)
        if repository in seen:
            fail("ko_push %s: repository %r is named twice" % (ctx.label, repository))
        seen[repository] = True
    return repositories

def _provenance(info):
    """The image's provenance statements: struct(statement, digest) each."""
    return getattr(info, "provenance", None) or []

def _with_sbom(ctx, info):
    """A copy of the image's sparse layout with the SBOM of `sbom` and the image's provenance attached (RkoAttachSbom, RkoAttachProvenance); the layout itself without either.

    Only metadata goes in: the sparse layout, the SBOM, the statements and
    the digests of the images they describe, never a layer blob."""
    layout = _with_sbom_only(ctx, info)
    provenance = _provenance(info)
    if not provenance:
        return layout
    out = ctx.actions.declare_directory(ctx.label.name + ".with-provenance")
    attach = " && ".join([
        '"$1" provenance --quiet --from "${%d}" --subject-file "${%d}" --created %d --attach "$3" > /dev/null' % (4 + 2 * i, 5 + 2 * i, p.created)
        for i, p in enumerate(provenance)
    ])
    statements = [f for p in provenance for f in [p.statement, p.digest]]
    ctx.actions.run_shell(
        command = 'cp -R "$2/." "$3" && chmod -R u+w "$3" && ' + attach,
        arguments = [rko_binary(ctx).path, layout.path, out.path] + [f.path for f in statements],
        inputs = [layout] + statements,
        tools = [rko_binary(ctx)],
        outputs = [out],
        mnemonic = "RkoAttachProvenance",
        progress_message = "RkoAttachProvenance %s" % ctx.label,
    )
    return out

def _with_sbom_only(ctx, info):
    """A copy of the image's sparse layout with the SBOM of `sbom` attached to its image (RkoAttachSbom); the layout itself without `sbom`."""
    if not ctx.attr.sbom:
        return info.layout
    sbom = ctx.attr.sbom[SbomInfo]
    out = ctx.actions.declare_directory(ctx.label.name + ".with-sbom")
    ctx.actions.run_shell(
        command = 'cp -R "$2/." "$3" && chmod -R u+w "$3" && "$1" sbom --quiet --from "$4" --format "$5" --created "$6" --subject "$(cat "$7")" --attach "$3" > /dev/null',
        arguments = [rko_binary(ctx).path, info.layout.path, out.path, sbom.sbom.path, sbom.format, str(sbom.created), sbom.image_digest.path],
        inputs = [info.layout, sbom.sbom, sbom.image_digest],
        tools = [rko_binary(ctx)],
        outputs = [out],
        mnemonic = "RkoAttachSbom",
        progress_message = "RkoAttachSbom %s" % ctx.label,
    )
    return out

def _tags_file(ctx):
    """The file of tags to push, one per line: remote_tags or the tags list, stamped when the build stamps."""
    if ctx.file.remote_tags and ctx.attr.tag_list:
        fail("ko_push %s: give tags or remote_tags, not both" % ctx.label)
    tags = ctx.file.remote_tags
    if not tags:
        tags = ctx.actions.declare_file(ctx.label.name + ".tags.txt")
        ctx.actions.write(tags, "\n".join(ctx.attr.tag_list) + "\n")
    if not stamping(ctx):
        return tags
    stamped = ctx.actions.declare_file(ctx.label.name + ".stamped-tags.txt")
    stamp_file(ctx, tags, stamped)
    return stamped

def _layers_file(ctx, layers, lazy):
    """What `rko push` gets of the layer blobs the sparse layout lacks.

    Eager: `BLOB=DESCRIPTOR` a line, both in the runfiles (`--layer`). Lazy:
    only where Bazel would have written each blob (`--blob-hint`): used if
    it is there, else read from the remote cache. No descriptor either:
    downloading an output downloads the other outputs of its action, the
    blob too.

    Args:
      ctx: the ko_push context.
      layers: the image's layers, struct(blob, descriptor) each.
      lazy: whether the push is lazy.

    Returns:
      The file, one layer a line.
    """
    if lazy:
        return hints_file(ctx, layers)
    out = ctx.actions.declare_file(ctx.label.name + ".layers.txt")
    ctx.actions.write(out, "".join(["%s=%s\n" % (layer.blob.short_path, layer.descriptor.short_path) for layer in layers]))
    return out

def _ko_push_impl(ctx):
    repositories = _repositories(ctx)
    rko = rko_binary(ctx)
    info = ctx.attr.image[ImageInfo]
    layout = _with_sbom(ctx, info)
    tags = _tags_file(ctx)
    lazy = is_lazy(ctx, "ko_push")
    layers = info.layers.to_list()
    layers_file = _layers_file(ctx, layers, lazy)
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    substitutions = {
        "{{image}}": str(ctx.attr.image.label),
        "{{label}}": str(ctx.label),
        "{{rko}}": rko.short_path,
        "{{layout}}": layout.short_path,
        "{{sbom_tags}}": "1" if ctx.attr.sbom or _provenance(info) else "",
        "{{digest}}": info.digest.short_path,
        "{{tags}}": tags.short_path,
        "{{repositories}}": " ".join(['"%s"' % repository for repository in repositories]),
        "{{layers}}": layers_file.short_path,
        "{{lazy}}": "1" if lazy else "",
    }
    substitutions.update(remote_cache_substitutions(ctx))
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        is_executable = True,
        substitutions = substitutions,
    )
    files = [rko, layout, info.digest, tags, layers_file]
    if not lazy:
        files.extend([f for layer in layers for f in [layer.blob, layer.descriptor]])
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles(files = files))]

_ko_push = rule(
    doc = "The rule behind the ko_push macro (which see): `tags` is `tag_list` here.",
    implementation = _ko_push_impl,
    attrs = dict({
        "image": attr.label(doc = "A ko_image or ko_image_index.", providers = [ImageInfo], mandatory = True),
        "repository": attr.string(doc = "registry/repository to push to, without tag or digest."),
        "repositories": attr.string_list(doc = "More registry/repository names to push to (after `repository`), each with the same tags, in this order; the first that fails stops the push, named."),
        "sbom": attr.label(doc = "A ko_sbom of the image (or of one image of the index): attached to a copy of the layout at build time and pushed as `rko push --sbom-tags` does, as an OCI referrer and under cosign's `sha256-<digest>.sbom` tag, where `cosign download sbom` finds it.", providers = [SbomInfo]),
        "remote_tags": attr.label(doc = "A file of tags to push, one per line; may hold `{KEY}` stamp placeholders.", allow_single_file = True),
        "tag_list": attr.string_list(doc = "Tags to push (the ko_push macro's `tags`); may hold `{KEY}` stamp placeholders."),
        "_template": attr.label(default = ":push.sh.tpl", allow_single_file = True),
    }, **dict(STAMP_ATTRS, **STRATEGY_ATTRS)),
    executable = True,
    toolchains = [TOOLCHAIN],
)

def ko_push(name, image, repository = "", repositories = [], tags = None, remote_tags = None, **kwargs):
    """`bazel run` target pushing `image` to `repository` (and each of `repositories`) with `rko push`.

    Tags come from `tags` (default `latest`) or from `remote_tags`, a file with one
    tag per line (as rules_oci's: it may be generated); none at all pushes by digest
    alone. `bazel run //:push -- --repository REPO --tag TAG` replaces the repository
    and the tags. Under `--stamp` (or `stamp = 1`) each `{KEY}` in a tag is replaced
    by KEY's value from Bazel's status files: `{BUILD_USER}`, `{BUILD_TIMESTAMP}`,
    `{BUILD_EMBED_LABEL}` or the keys `--workspace_status_command` prints
    (`{STABLE_GIT_COMMIT}`). An unstamped placeholder is an error naming `--stamp`.

    Each of `repositories` (after `repository`) gets the same image and tags,
    one after another; the first push that fails ends the run, naming its
    repository. `sbom` (a ko_sbom of the image, or of one image of an index)
    is pushed beside the image as `rko push --sbom-tags` pushes it, where
    `cosign download sbom` finds it.

    With `strategy = "lazy"` (or `--define=rko_push_strategy=lazy`) the target
    carries no layer blob: `rko push` asks the registry first and reads what it
    lacks from the remote cache named by `--define=rko_remote_cache=ADDRESS`.

    Args:
      name: the target name.
      image: a ko_image or ko_image_index.
      repository: registry/repository to push to (or pass --repository to bazel run).
      repositories: more registry/repository names to push to, in order.
      tags: tags to push, default ["latest"] (a list: Bazel reserves the attribute name `tags`, hence this macro).
      remote_tags: instead of `tags`, a file of tags, one per line (may be generated, or stamped: `{KEY}`).
      **kwargs: `sbom`, `strategy`, `stamp` and the common rule attributes.
    """
    if tags == None and remote_tags == None:
        tags = ["latest"]
    _ko_push(name = name, image = image, repository = repository, repositories = repositories, tag_list = tags or [], remote_tags = remote_tags, **kwargs)
