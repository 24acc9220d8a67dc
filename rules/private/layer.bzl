"""ko_layer: files as one layer, built once and shared by every ko_image that names it
(a package's kodata, which every image and platform of the package carries)."""

load(":providers.bzl", "LayerInfo", "TOOLCHAIN", "params_args", "rko_binary")

KODATA = "/var/run/ko"

def layer_action(ctx, rko, name, entries, inputs, mtime, what, flag = "--file"):
    """`rko assemble-layer` of `entries` (SRC=DEST), each after `flag`.

    With `flag = "--ko-data-file"`, ko's own kodata layer (`--ko-data`); with
    `--ko-app`, ko's binary layer.

    Args:
      ctx: the rule context (its toolchain runs rko).
      rko: the rko executable.
      name: the outputs' name: NAME.tar.gz, NAME.json and NAME.listing.json.
      entries: SRC=DEST strings, one per file.
      inputs: the files that `entries` name.
      mtime: the files' modification time; negative: 0 (ko's unset).
      what: which layer, for the progress message.
      flag: the assemble-layer flag before each entry.

    Returns:
      struct(blob, descriptor, listing): the layer blob, its descriptor JSON
      and its listing JSON (every entry's metadata, for ko_image_test).
    """
    blob = ctx.actions.declare_file(name + ".tar.gz")
    descriptor = ctx.actions.declare_file(name + ".json")
    listing = ctx.actions.declare_file(name + ".listing.json")
    args = params_args(ctx, "assemble-layer")
    if flag == "--ko-data-file":
        args.add("--ko-data")
    for entry in entries:
        args.add(flag, entry)
    if flag != "--ko-app":
        # A negative time is ko's "unset": 0 in the tar (see history_created).
        args.add("--mtime", str(max(mtime, 0)))
    args.add("--out", blob)
    args.add("--descriptor", descriptor)
    args.add("--listing", listing)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = inputs,
        outputs = [blob, descriptor, listing],
        mnemonic = "RkoLayer",
        progress_message = "RkoLayer %s layer of %s" % (what, ctx.label),
    )
    return struct(blob = blob, descriptor = descriptor, listing = listing)

def _dest(file, strip_prefix):
    """Where `file` goes below the layer's directory.

    Its path after `strip_prefix`, or after its last `kodata/` (ko's layout),
    or its name."""
    path = file.short_path
    if strip_prefix:
        prefix = strip_prefix.rstrip("/") + "/"
        if not path.startswith(prefix):
            fail("%s is not under strip_prefix %s" % (path, strip_prefix))
        return path[len(prefix):]
    marker = path.rfind("kodata/")
    if marker < 0:
        return file.basename
    return path[marker + len("kodata/"):]

# Go's zero time, 0001-01-01T00:00:00Z, in seconds (too big for Bazel's
# 32-bit ints, hence a string): what ko dates kodata at without
# KO_DATA_DATE_EPOCH.
GO_ZERO_TIME = "-62135596800"

def history_created(created):
    """The history entry's time of a layer made at `created` (negative: unset, as ko)."""
    return str(created) if created >= 0 else GO_ZERO_TIME

def history_comment(directory):
    """The config history comment ko writes for a layer of files at `directory`."""
    if directory == KODATA:
        return "kodata contents, at $KO_DATA_PATH"
    return "files at " + directory

def files_layer(ctx, rko, name, files, directory, strip_prefix, mtime):
    """A LayerInfo for `files` placed below `directory`.

    Args:
      ctx: the rule context (its toolchain runs rko).
      rko: the rko executable.
      name: the outputs' name: NAME.tar.gz, NAME.json and NAME.listing.json.
      files: the files of the layer.
      directory: where they go in the image (KODATA: ko's kodata layer).
      strip_prefix: stripped from the files' paths; empty: up to `kodata/`.
      mtime: the files' modification time; negative: ko's unset.

    Returns:
      The LayerInfo of the layer.
    """
    if directory == KODATA:
        # ko's own kodata layer, entry for entry (the same diffID as ko's).
        entries = ["%s=%s" % (f.path, _dest(f, strip_prefix)) for f in files]
        layer = layer_action(ctx, rko, name, entries, files, mtime, "kodata", "--ko-data-file")
    else:
        entries = [
            "%s=%s/%s" % (f.path, directory.rstrip("/"), _dest(f, strip_prefix))
            for f in files
        ]
        layer = layer_action(ctx, rko, name, entries, files, mtime, directory)
    return LayerInfo(
        blob = layer.blob,
        descriptor = layer.descriptor,
        listing = layer.listing,
        comment = history_comment(directory),
        created = mtime,
    )

def _ko_layer_impl(ctx):
    layer = files_layer(
        ctx,
        rko_binary(ctx),
        ctx.label.name,
        ctx.files.srcs,
        ctx.attr.directory,
        ctx.attr.strip_prefix,
        ctx.attr.created,
    )
    return [DefaultInfo(files = depset([layer.blob, layer.descriptor])), layer]

ko_layer = rule(
    doc = "Files as one layer (by default a package's kodata at /var/run/ko), built once for every ko_image that lists it in `layers`, whatever their platforms.",
    implementation = _ko_layer_impl,
    attrs = {
        "srcs": attr.label_list(doc = "The files.", allow_files = True, mandatory = True),
        "directory": attr.string(doc = "Where the files go in the image; default ko's KO_DATA_PATH.", default = KODATA),
        "strip_prefix": attr.string(doc = "Strip this from the files' paths; default: everything up to `kodata/`."),
        "created": attr.int(doc = "The files' modification time, seconds since the epoch (KO_DATA_DATE_EPOCH); negative (the default) as ko without it: time 0 in the layer, 0001-01-01 in the history.", default = -1),
    },
    toolchains = [TOOLCHAIN],
)
