"""ko_image: a Go binary (and its kodata) on a base, as one OCI image layout;
given several `platforms`, the binary is built for each through a transition
and the images are joined into one image index, as `ko build --platform` does."""

load(":index.bzl", "index_action")
load(":layer.bzl", "KODATA", "files_layer", "history_comment", "history_created", "layer_action")
load(":providers.bzl", "ImageInfo", "LayerInfo", "TOOLCHAIN", "TargetPlatformInfo", "params_args", "rko_binary")
load(":stamp.bzl", "STAMP_ATTRS", "has_placeholder", "stamp_file", "stamping")
load(":transition.bzl", "TRANSITION_ALLOWLIST", "platforms_transition")

def _json_string(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')

def _ko_history(ctx, name, app, layers):
    """ko's config history entries (each layer's, then the binary's), as a JSON file for append --history-file."""
    created_by = _json_string("ko build ko://" + ctx.attr.importpath)
    entry = '{"author":"ko","created":%s,"created_by":%s,"comment":%s}'
    entries = [entry % (history_created(layer.created), created_by, _json_string(layer.comment)) for layer in layers]
    entries.append(entry % (str(ctx.attr.created), created_by, _json_string("go build output, at /ko-app/" + app)))
    history = ctx.actions.declare_file(name + ".history.json")
    ctx.actions.write(history, "[%s]\n" % ",".join(entries))
    return history

_GoPlatformAttrsInfo = provider(
    doc = "The goos and goarch attributes of `binary`'s rule (rules_go's go_binary has them); empty when it has none.",
    fields = {
        "goos": "The rule's goos attribute, or empty.",
        "goarch": "The rule's goarch attribute, or empty.",
    },
)

def _string_attr(attrs, name):
    value = getattr(attrs, name, "")
    return value if type(value) == "string" else ""

def _go_platform_attrs_impl(_target, ctx):
    return [_GoPlatformAttrsInfo(
        goos = _string_attr(ctx.rule.attr, "goos"),
        goarch = _string_attr(ctx.rule.attr, "goarch"),
    )]

# A rule's attributes are not a provider: an aspect reads them.
_go_platform_attrs = aspect(
    doc = "Reads the goos and goarch attributes of ko_image's binary.",
    implementation = _go_platform_attrs_impl,
)

def _executable(target):
    """The file a *_binary target (this example's go_binary, rules_go's, ...) runs."""
    info = target[DefaultInfo]
    if info.files_to_run and info.files_to_run.executable:
        return info.files_to_run.executable
    files = info.files.to_list()
    if len(files) != 1:
        fail("binary %s gives %d files; ko_image needs the one executable" % (target.label, len(files)))
    return files[0]

def _runfiles_beyond_itself(target):
    """The runfiles of `target` that are not the target's own outputs, sorted.

    A binary's runfiles hold its executable (rules_go's go_binary, a
    genrule's output) and, for an sh_binary, the script its executable
    links to: those are the binary itself. Anything more came from `data`
    or deps."""
    info = target[DefaultInfo]
    runfiles = info.default_runfiles
    if not runfiles:
        return []
    own = {f.path: True for f in info.files.to_list()}
    if info.files_to_run and info.files_to_run.executable:
        own[info.files_to_run.executable.path] = True
    paths = [f.short_path for f in runfiles.files.to_list() if f.path not in own]
    paths.extend([link.path for link in runfiles.symlinks.to_list()])
    paths.extend([link.path for link in runfiles.root_symlinks.to_list()])
    return sorted(paths)

def _refuse_runfiles(ctx, target):
    paths = _runfiles_beyond_itself(target)
    if not paths:
        return
    shown = ", ".join(paths[:5]) + (", and %d more" % (len(paths) - 5) if len(paths) > 5 else "")
    fail(("ko_image %s: binary %s has runfiles (%s) that an image would not contain: only the " +
          "executable goes in, at /ko-app/. Give the files the program reads to ko_image's " +
          "`kodata` (they are then under /var/run/ko, $KO_DATA_PATH) or `layers` instead of " +
          "the binary's `data`.") % (ctx.label, target.label, shown))

def _refuse_other_goos_goarch(ctx, target, platform):
    """Fails when `target`'s goos or goarch attribute names another platform than the image's."""
    if _GoPlatformAttrsInfo not in target:
        return
    attrs = target[_GoPlatformAttrsInfo]
    os, _, rest = platform.partition("/")
    arch = rest.partition("/")[0]
    conflicts = [
        '%s = "%s"' % (name, value)
        for name, value, wanted in [("goos", attrs.goos, os), ("goarch", attrs.goarch, arch)]
        if value not in ("", "auto", wanted)
    ]
    if conflicts:
        fail(("ko_image %s: binary %s sets %s, but the image is for %s. ko_image builds its " +
              "binary for the image's platform (`platforms`, or the current configuration " +
              "with `platform`): leave goos and goarch unset (\"auto\") on %s.") %
             (ctx.label, target.label, " and ".join(conflicts), platform, target.label))

def _binary(ctx, target, platform):
    """The executable of `target`, for an image for `platform`.

    Refused at analysis when the image would not run what the target runs."""
    _refuse_runfiles(ctx, target)
    _refuse_other_goos_goarch(ctx, target, platform)
    return _executable(target)

def _split(split_attr, key):
    """What a split attribute holds for `key`.

    (A split into one configuration that is the current one is no split for
    Bazel 4: its one key is None.)"""
    if key in split_attr:
        return split_attr[key]
    if len(split_attr) == 1:
        return split_attr.values()[0]
    fail("no %s in %s" % (key, split_attr.keys()))

def _builds(ctx):
    """One struct(binary, platform, name) per image, in the order of `platforms`."""
    if not ctx.attr.platforms:
        platform = ctx.attr.platform or "linux/amd64"
        return [struct(
            binary = _binary(ctx, ctx.attr.binary[0], platform),
            platform = platform,
            name = ctx.label.name,
        )]
    if ctx.attr.platform:
        fail("ko_image %s: give platform (one OCI platform string) or platforms (platform targets), not both" % ctx.label)
    builds = []
    seen = {}
    for target in ctx.attr.platforms:
        key = str(target.label)
        platform = _split(ctx.split_attr._target_platform, key)[TargetPlatformInfo].platform
        if not platform:
            fail("ko_image %s: platform %s has no @platforms//os and @platforms//cpu constraint values rko knows (see rko's rules/private/target_platform.bzl)" % (ctx.label, key))
        if platform in seen:
            fail("ko_image %s: platforms %s and %s are both %s" % (ctx.label, seen[platform], key, platform))
        seen[platform] = key
        builds.append(struct(
            binary = _binary(ctx, _split(ctx.split_attr.binary, key), platform),
            platform = platform,
            name = ctx.label.name if len(ctx.attr.platforms) == 1 else "%s.%s" % (ctx.label.name, platform.replace("/", "_")),
        ))
    return builds

def _file_layers(ctx, rko):
    """The layers below the binary, in order: kodata's, then `layers`."""
    extra = [target[LayerInfo] for target in ctx.attr.layers]
    kodata_layers = [layer for layer in extra if layer.comment == history_comment(KODATA)]

    # ko gives every image a kodata layer: an empty one (/var/run/ko alone)
    # when neither `kodata` nor a ko_layer of `layers` holds kodata.
    if not ctx.files.kodata and kodata_layers:
        return extra
    name = ctx.label.name + ".kodata"
    kodata = files_layer(ctx, rko, name, ctx.files.kodata, KODATA, ctx.attr.kodata_strip_prefix, ctx.attr.kodata_created)
    return [kodata] + extra

def _stamped_values(ctx, what, values):
    """struct(values, file): the entries of `values` to give as flags, and a file of the others (K=V lines, stamped), or None.

    Only under stamping, and only for the entries holding a `{KEY}`
    placeholder: an image without placeholders gets no stamp action, so
    neither its inputs nor its digest depend on the status files."""
    if not stamping(ctx):
        return struct(values = values, file = None)
    plain = {}
    lines = []
    for key, value in sorted(values.items()):
        if not has_placeholder([value]):
            plain[key] = value
        elif "\n" in value or "\n" in key:
            fail("ko_image %s: %s %r: a value with a stamp placeholder must be one line" % (ctx.label, what, key))
        else:
            lines.append("%s=%s" % (key, value))
    if not lines:
        return struct(values = values, file = None)
    template = ctx.actions.declare_file("%s.%s.txt" % (ctx.label.name, what))
    ctx.actions.write(template, "\n".join(lines) + "\n")
    stamped = ctx.actions.declare_file("%s.stamped-%s.txt" % (ctx.label.name, what))
    stamp_file(ctx, template, stamped)
    return struct(values = plain, file = stamped)

def _config_args(ctx, args, stamped):
    for key, value in sorted(ctx.attr.env.items()):
        args.add("--env", "%s=%s" % (key, value))
    if stamped.labels.file:
        args.add("--labels-file", stamped.labels.file)
    for key, value in sorted(stamped.labels.values.items()):
        args.add("--label", "%s=%s" % (key, value))
    if stamped.annotations.file:
        args.add("--annotations-file", stamped.annotations.file)
    for key, value in sorted(stamped.annotations.values.items()):
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
    args.add("--tag", ctx.attr.tag)

def _image(ctx, rko, build, layers, stamped):
    """The binary layer and `rko append` for one platform; returns (layout, digest)."""
    app = ctx.attr.app_name or build.binary.basename
    binary_layer = layer_action(
        ctx,
        rko,
        build.name + ".bin",
        ["%s=%s" % (build.binary.path, app)],
        [build.binary],
        ctx.attr.created,
        "binary (%s)" % build.platform,
        "--ko-app",
    )
    layout = ctx.actions.declare_directory(build.name)
    digest = ctx.actions.declare_file(build.name + ".digest")
    args = params_args(ctx, "append")
    inputs = [build.binary]
    if ctx.file.base:
        args.add("--base", ctx.file.base.path)
        inputs.append(ctx.file.base)
    else:
        args.add("--base", "builtin:static")
    if ctx.attr.base_name:
        args.add("--base-name", ctx.attr.base_name)
    args.add("--platform", build.platform)

    # append refuses a binary whose Go build information names another platform.
    args.add("--binary", build.binary)

    # ko's order: kodata, then the binary. Metadata only: the layout is
    # sparse, and no layer blob is an input (a remote cache may keep them).
    for layer in layers + [binary_layer]:
        args.add("--layer-descriptor", layer.descriptor)
        inputs.append(layer.descriptor)
    _config_args(ctx, args, stamped)
    inputs.extend([f.file for f in [stamped.labels, stamped.annotations] if f.file])
    args.add("--ko-app", app)
    if ctx.attr.importpath:
        history = _ko_history(ctx, build.name, app, layers)
        args.add("--history-file", history)
        args.add("--author", "github.com/ko-build/ko")
        inputs.append(history)
    args.add("--out", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = inputs,
        outputs = [layout, digest],
        mnemonic = "RkoAppend",
        progress_message = "RkoAppend %s %s" % (ctx.label, build.platform),
    )
    blobs = [
        struct(blob = layer.blob, descriptor = layer.descriptor, listing = layer.listing)
        for layer in layers + [binary_layer]
    ]
    return struct(layout = layout, digest = digest, layers = blobs)

def _provenance(ctx, rko, build, image):
    """The SLSA provenance statement of one image (RkoProvenance): struct(statement, digest, created); None without `provenance`.

    Its inputs are the image's sparse layout and its binary (whose Go build
    information lists the toolchain, modules and settings)."""
    if not ctx.attr.provenance:
        return None
    if not ctx.attr.importpath:
        fail("ko_image %s: provenance records the import path: set importpath" % ctx.label)
    statement = ctx.actions.declare_file(build.name + ".provenance.json")
    args = params_args(ctx, "provenance")
    args.add("--image", image.layout.path)
    args.add("--binary", build.binary)
    args.add("--import-path", ctx.attr.importpath)
    args.add("--subject-file", image.digest)
    args.add("--created", str(ctx.attr.created))
    args.add("--out", statement)
    ctx.actions.run(
        executable = rko,
        arguments = [args],
        inputs = [image.layout, image.digest, build.binary],
        outputs = [statement],
        mnemonic = "RkoProvenance",
        progress_message = "RkoProvenance %s %s" % (ctx.label, build.platform),
    )
    return struct(statement = statement, digest = image.digest, created = ctx.attr.created)

def _ko_image_impl(ctx):
    rko = rko_binary(ctx)
    builds = _builds(ctx)
    layers = _file_layers(ctx, rko)
    stamped = struct(
        labels = _stamped_values(ctx, "labels", ctx.attr.labels),
        annotations = _stamped_values(ctx, "annotations", ctx.attr.annotations),
    )
    images = [_image(ctx, rko, build, layers, stamped) for build in builds]
    provenance = [p for p in [_provenance(ctx, rko, build, image) for build, image in zip(builds, images)] if p]
    blobs = depset([layer for image in images for layer in image.layers])
    if len(images) == 1:
        layout, digest = images[0].layout, images[0].digest
        platform = builds[0].platform
        binary = builds[0].binary
    else:
        layout, digest = index_action(
            ctx,
            ctx.label.name,
            [image.layout for image in images],
            stamped.annotations.values,
            annotations_file = stamped.annotations.file,
        )
        platform = ""
        binary = None
    return [
        DefaultInfo(files = depset([layout, digest] + [p.statement for p in provenance])),
        ImageInfo(layout = layout, digest = digest, platform = platform, binary = binary, layers = blobs, provenance = provenance),
        OutputGroupInfo(layers = depset([f for layer in blobs.to_list() for f in [layer.blob, layer.descriptor]])),
    ]

_ATTRS = {
    "binary": attr.label(
        doc = "The Go executable: a go_binary (rules_go's with `pure = \"on\"`, or any rule building for the target platform), built once per entry of `platforms`. Refused at analysis when it has runfiles beyond itself (its `data`: give such files to `kodata` or `layers`), or when its `goos`/`goarch` attribute names another platform than the image's.",
        mandatory = True,
        cfg = platforms_transition,
        aspects = [_go_platform_attrs],
    ),
    "platforms": attr.label_list(
        doc = "platform() targets with @platforms os/cpu constraints (such as @rko//rules/platforms:linux_arm64): `binary` is built for each, and two or more give an image index, one image per platform in this order. One gives one image.",
        providers = [platform_common.PlatformInfo],
    ),
    "platform": attr.string(doc = "Without `platforms`: the image's OS/ARCH[/VARIANT], `binary` being built in the current configuration; default linux/amd64."),
    "app_name": attr.string(doc = "Its name under /ko-app; default: the binary's file name."),
    "importpath": attr.string(doc = "The binary's Go import path: with it, the config's author and each layer's history entry are ko's (`ko build ko://IMPORTPATH`), as `rko build` writes them."),
    "provenance": attr.bool(doc = "Write each image's SLSA provenance statement (`rko provenance`; needs `importpath`), as `rko build` attaches it: ko_push pushes it as an OCI referrer and at cosign's `sha256-<digest>.att` tag, where `cosign download attestation` finds it and `rko verify` reads it.", default = False),
    "base": attr.label(doc = "A base OCI layout (from rko_base_image); default: builtin:static.", allow_single_file = True),
    "base_name": attr.string(doc = "Recorded as org.opencontainers.image.base.name."),
    "kodata": attr.label_list(doc = "Files for /var/run/ko (KO_DATA_PATH); one layer, shared by every platform.", allow_files = True),
    "kodata_strip_prefix": attr.string(doc = "Strip this from kodata paths; default: everything up to `kodata/`."),
    "kodata_created": attr.int(doc = "Modification time of the kodata files (KO_DATA_DATE_EPOCH); negative (the default) as ko without it: time 0 in the layer, 0001-01-01 in the history.", default = -1),
    "layers": attr.label_list(doc = "ko_layer targets, below the binary in this order (after `kodata`'s layer): a package's kodata as a ko_layer is built once for all its images and platforms.", providers = [LayerInfo]),
    "entrypoint": attr.string_list(doc = "Overrides ko's entrypoint /ko-app/NAME."),
    "args": attr.string_list(doc = "Fixed arguments after the entrypoint (the image's Cmd)."),
    "env": attr.string_dict(doc = "Environment variables of the container."),
    "labels": attr.string_dict(doc = "Image config labels. A value may hold `{KEY}` placeholders, replaced under `--stamp` (or `stamp = 1`) by KEY's value from Bazel's status files; unstamped, the text stays as it is."),
    "annotations": attr.string_dict(doc = "Manifest annotations (and, with several platforms, the index's, as ko does); `{KEY}` placeholders are stamped as in `labels`."),
    "user": attr.string(doc = "The user the container runs as."),
    "workdir": attr.string(doc = "The container's working directory."),
    "created": attr.int(doc = "Creation time, seconds since the epoch (SOURCE_DATE_EPOCH); ko leaves the binary's mtime 0.", default = 0),
    "tag": attr.string(doc = "The image's name in the layout's index.json.", default = "latest"),
    "_target_platform": attr.label(
        default = Label("//rules/platforms:target"),
        cfg = platforms_transition,
        providers = [TargetPlatformInfo],
    ),
}

ko_image = rule(
    doc = "Builds an OCI image of a Go binary as ko does: /ko-app/NAME on a base, kodata under /var/run/ko; with several `platforms`, an image index. The RkoAppend action refuses a binary whose Go build information names another platform than the image's. It reads the layers' descriptors, never their blobs: the output layout is sparse, and the blobs travel in ImageInfo.layers (output group `layers`) to ko_push, ko_load and ko_export.",
    implementation = _ko_image_impl,
    attrs = dict(dict(_ATTRS, **STAMP_ATTRS), **TRANSITION_ALLOWLIST),
    toolchains = [TOOLCHAIN],
)
