"""Providers shared by rko's rules."""

ImageInfo = provider(
    doc = "An OCI image (or image index) built by rko. Its layout is sparse: manifests, configs and the base's blobs, not the blobs of the layers rko built, which travel in `layers` (metadata-only assembly: RkoAppend never reads a layer blob).",
    fields = {
        "layout": "The OCI image layout directory (a tree artifact), without the blobs of `layers`.",
        "layers": "A depset of struct(blob, descriptor, listing): every layer rko built for the image (for an index, for each of its images), the blobs the layout lacks; `listing` lists each layer's entries (type, mode, owner, link), which ko_image_test reads instead of the blob.",
        "digest": "A file holding the manifest (or index) digest, sha256:<hex>.",
        "platform": "OS/ARCH[/VARIANT] of a single image; empty for an index.",
        "binary": "The Go binary in a single image (at /ko-app/NAME); None for an index.",
        "provenance": "With ko_image's `provenance`: a list of struct(statement, digest, created): each image's SLSA provenance statement, the file holding that image's digest, and its SOURCE_DATE_EPOCH (ko_push attaches them); else empty or absent.",
    },
)

LayerInfo = provider(
    doc = "One layer built by `rko assemble-layer` (ko_layer), for ko_image's `layers`.",
    fields = {
        "blob": "The compressed layer.",
        "descriptor": "Its descriptor JSON (mediaType, digest, size, diffID).",
        "listing": "Its listing JSON: every entry in tar order with type, mode, owner, size and link target (`rko assemble-layer --listing`).",
        "comment": "The comment of its config history entry.",
        "created": "The files' modification time (and the history entry's), seconds since the epoch.",
    },
)

SbomInfo = provider(
    doc = "An SBOM written by ko_sbom, and the image it describes.",
    fields = {
        "sbom": "The SBOM file.",
        "format": "Its format: spdx or cyclonedx (as `rko sbom --format` takes it).",
        "created": "The document's time, seconds since the epoch (the attached artifact's too).",
        "image_digest": "A file holding the digest of the image the SBOM describes (its subject when attached).",
    },
)

TargetPlatformInfo = provider(
    doc = "The OCI platform of a configuration's target platform, from its @platforms constraints.",
    fields = {
        "os": "GOOS / OCI os: linux, darwin, ...; empty when unknown.",
        "arch": "GOARCH / OCI architecture: amd64, arm64, arm, ...; empty when unknown.",
        "variant": "OCI variant (v7 for armv7), or empty.",
        "platform": "OS/ARCH[/VARIANT], as `rko append --platform` takes it; empty when unknown.",
    },
)

TOOLCHAIN = "@rko//rules:toolchain_type"

def rko_binary(ctx):
    """The rko executable from the registered toolchain."""
    return ctx.toolchains[TOOLCHAIN].rko

def params_args(ctx, command):
    """An Args for `rko <command>` that Bazel may spill into a params file.

    `--quiet`: an action whose result is in its output files prints nothing,
    so a build shows no "INFO: From Rko…" lines.

    Args:
      ctx: the rule context.
      command: the rko subcommand.

    Returns:
      The Args, the command and `--quiet` added.
    """
    args = ctx.actions.args()
    args.add(command)
    args.add("--quiet")
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    return args
