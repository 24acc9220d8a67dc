"""ko_image: a Go binary (and its kodata) on a base, as one OCI image layout."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "params_args", "rko_binary")

def _kodata_dest(file, strip_prefix):
    path = file.short_path
    if strip_prefix:
        prefix = strip_prefix.rstrip("/") + "/"
        if not path.startswith(prefix):
            fail("kodata file %s is not under kodata_strip_prefix %s" % (path, strip_prefix))
        return path[len(prefix):]
    marker = path.rfind("kodata/")
    if marker < 0:
        return file.basename
    return path[marker + len("kodata/"):]

def _layer(ctx, rko, name, entries, inputs, mtime, what):
    blob = ctx.actions.declare_file("%s.%s.tar.gz" % (ctx.label.name, name))
    descriptor = ctx.actions.declare_file("%s.%s.json" % (ctx.label.name, name))
    args = params_args(ctx, "assemble-layer")
    for entry in entries:
        args.add("--file", entry)
    args.add("--mtime", str(mtime))
    args.add("--out", blob)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = inputs,
        outputs = [blob, descriptor],
        mnemonic = "RkoLayer",
        progress_message = "RkoLayer %s layer of %s" % (what, ctx.label),
    )
    return struct(blob = blob, descriptor = descriptor)

def _json_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')

def _ko_history(ctx, app):
    """ko's config history entries (kodata, then the binary), as a JSON file for append --history-file."""
    created_by = _json_string("ko build ko://" + ctx.attr.importpath)
    entry = '{"author":"ko","created":%d,"created_by":%s,"comment":%s}'
    entries = []
    if ctx.files.kodata:
        entries.append(entry % (ctx.attr.kodata_created, created_by, _json_string("kodata contents, at $KO_DATA_PATH")))
    entries.append(entry % (ctx.attr.created, created_by, _json_string("go build output, at /ko-app/" + app)))
    history = ctx.actions.declare_file(ctx.label.name + ".history.json")
    ctx.actions.write(history, "[%s]\n" % ",".join(entries))
    return history

def _ko_image_impl(ctx):
    rko = rko_binary(ctx)
    app = ctx.attr.app_name or ctx.file.binary.basename

    # ko's order: kodata, then the binary.
    layers = []
    if ctx.files.kodata:
        entries = [
            "%s=/var/run/ko/%s" % (f.path, _kodata_dest(f, ctx.attr.kodata_strip_prefix))
            for f in ctx.files.kodata
        ]
        layers.append(_layer(ctx, rko, "kodata", entries, ctx.files.kodata, ctx.attr.kodata_created, "kodata"))
    layers.append(_layer(
        ctx,
        rko,
        "bin",
        ["%s=/ko-app/%s" % (ctx.file.binary.path, app)],
        [ctx.file.binary],
        ctx.attr.created,
        "binary",
    ))

    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = params_args(ctx, "append")
    inputs = []
    if ctx.file.base:
        args.add("--base", ctx.file.base.path)
        inputs.append(ctx.file.base)
    else:
        args.add("--base", "builtin:static")
    if ctx.attr.base_name:
        args.add("--base-name", ctx.attr.base_name)
    args.add("--platform", ctx.attr.platform)
    for layer in layers:
        args.add("--layer", "%s=%s" % (layer.blob.path, layer.descriptor.path))
        inputs.extend([layer.blob, layer.descriptor])
    args.add("--ko-app", app)
    for key, value in sorted(ctx.attr.env.items()):
        args.add("--env", "%s=%s" % (key, value))
    for key, value in sorted(ctx.attr.labels.items()):
        args.add("--label", "%s=%s" % (key, value))
    for key, value in sorted(ctx.attr.annotations.items()):
        args.add("--annotation", "%s=%s" % (key, value))
    if ctx.attr.user:
        args.add("--user", ctx.attr.user)
    if ctx.attr.workdir:
        args.add("--workdir", ctx.attr.workdir)
    for element in ctx.attr.entrypoint:
        args.add("--entrypoint", element)
    for element in ctx.attr.args:
        args.add("--cmd", element)
    args.add("--created", str(ctx.attr.created))
    if ctx.attr.importpath:
        history = _ko_history(ctx, app)
        args.add("--history-file", history)
        args.add("--author", "github.com/ko-build/ko")
        inputs.append(history)
    args.add("--tag", ctx.attr.tag)
    args.add("--out", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = inputs,
        outputs = [layout, digest],
        mnemonic = "RkoAppend",
        progress_message = "RkoAppend %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        ImageInfo(layout = layout, digest = digest, platform = ctx.attr.platform),
    ]

ko_image = rule(
    doc = "Builds an OCI image of a Go binary as ko does: /ko-app/NAME on a base, kodata under /var/run/ko.",
    implementation = _ko_image_impl,
    attrs = {
        "binary": attr.label(doc = "The Go executable (built for `platform`).", allow_single_file = True, mandatory = True),
        "app_name": attr.string(doc = "Its name under /ko-app; default: the binary's file name."),
        "importpath": attr.string(doc = "The binary's Go import path: with it, the config's author and each layer's history entry are ko's (`ko build ko://IMPORTPATH`), as `rko build` writes them."),
        "base": attr.label(doc = "A base OCI layout (from rko_base_image); default: builtin:static.", allow_single_file = True),
        "base_name": attr.string(doc = "Recorded as org.opencontainers.image.base.name."),
        "kodata": attr.label_list(doc = "Files for /var/run/ko (KO_DATA_PATH).", allow_files = True),
        "kodata_strip_prefix": attr.string(doc = "Strip this from kodata paths; default: everything up to `kodata/`."),
        "kodata_created": attr.int(doc = "Modification time of the kodata files (KO_DATA_DATE_EPOCH).", default = 0),
        "platform": attr.string(doc = "OS/ARCH[/VARIANT] of the image.", default = "linux/amd64"),
        "entrypoint": attr.string_list(doc = "Overrides ko's entrypoint /ko-app/NAME."),
        "args": attr.string_list(doc = "Fixed arguments after the entrypoint (the image's Cmd)."),
        "env": attr.string_dict(doc = "Environment variables of the container."),
        "labels": attr.string_dict(doc = "Image config labels."),
        "annotations": attr.string_dict(doc = "Manifest annotations."),
        "user": attr.string(doc = "The user the container runs as."),
        "workdir": attr.string(doc = "The container's working directory."),
        "created": attr.int(doc = "Creation time and binary mtime, seconds since the epoch (SOURCE_DATE_EPOCH).", default = 0),
        "tag": attr.string(doc = "The image's name in the layout's index.json.", default = "latest"),
    },
    toolchains = [TOOLCHAIN],
)
