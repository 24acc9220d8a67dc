"""ko_image_test: a hermetic structure test of an image, with no container runtime."""

load(":providers.bzl", "ImageInfo", "TOOLCHAIN", "rko_binary")

def _file_expectation(path, value):
    """`MODE` or `MODE UID:GID` (either may be empty) as EXPECT.json's entry for `path`."""
    parts = value.split(" ")
    if len(parts) > 2:
        fail("files[%r] = %r: expected MODE or MODE UID:GID, such as \"0555 0:0\"" % (path, value))
    expect = {}
    if parts[0]:
        expect["mode"] = parts[0]
    if len(parts) == 2:
        owner = parts[1].split(":")
        if len(owner) != 2 or not owner[0].isdigit() or not owner[1].isdigit():
            fail("files[%r] = %r: the owner must be UID:GID in numbers, such as 0:0" % (path, value))
        expect["uid"] = int(owner[0])
        expect["gid"] = int(owner[1])
    return expect

def _expectations(ctx):
    """EXPECT.json's content: only what the attributes set is checked."""
    expect = {}
    if ctx.attr.entrypoint:
        expect["entrypoint"] = ctx.attr.entrypoint
    if ctx.attr.cmd:
        expect["cmd"] = ctx.attr.cmd
    if ctx.attr.user:
        expect["user"] = ctx.attr.user
    if ctx.attr.workdir:
        expect["workdir"] = ctx.attr.workdir
    if ctx.attr.env:
        expect["env"] = ctx.attr.env
    if ctx.attr.labels:
        expect["labels"] = ctx.attr.labels
    if ctx.attr.exposed_ports:
        expect["exposedPorts"] = ctx.attr.exposed_ports
    if ctx.attr.files:
        expect["files"] = {path: _file_expectation(path, value) for path, value in ctx.attr.files.items()}
    if ctx.attr.absent:
        expect["absent"] = ctx.attr.absent
    return json.encode(expect)

def _ko_image_test_impl(ctx):
    rko = rko_binary(ctx)
    info = ctx.attr.image[ImageInfo]
    if not info.platform and not ctx.attr.platform:
        fail("ko_image_test %s: %s is an image index: choose its image with platform = \"OS/ARCH\"" % (ctx.label, ctx.attr.image.label))
    expect = ctx.actions.declare_file(ctx.label.name + ".expect.json")
    ctx.actions.write(expect, _expectations(ctx) + "\n")

    # Metadata only: the listings stand for the layer blobs, which may stay
    # in a remote cache.
    listings = [layer.listing for layer in info.layers.to_list()]
    lines = [info.layout.short_path, "--expect", expect.short_path]
    if ctx.attr.platform:
        lines.extend(["--platform", ctx.attr.platform])
    for listing in listings:
        lines.extend(["--listing", listing.short_path])
    args = ctx.actions.declare_file(ctx.label.name + ".args.txt")
    ctx.actions.write(args, "\n".join(lines) + "\n")
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = script,
        is_executable = True,
        substitutions = {
            "{{image}}": str(ctx.attr.image.label),
            "{{rko}}": rko.short_path,
            "{{args}}": args.short_path,
        },
    )
    files = [rko, info.layout, expect, args] + listings
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles(files = files))]

ko_image_test = rule(
    doc = """A hermetic structure test of a ko_image (or one image of a ko_image_index): its config fields and its files, checked by `rko check-image` with no container runtime.

Like container-structure-test's metadata and file-existence tests, but it reads only
the image's sparse layout and its layers' listings (`rko assemble-layer --listing`):
no layer blob is in its runfiles, so it runs when the blobs stay in a remote cache.
Files of the base image are read from the base's blobs in the layout (a base pulled
shallow has none: then give no `files` or `absent`). Only the attributes that are
set are checked; every mismatch is reported, naming the field or path and what was
wanted and found.""",
    implementation = _ko_image_test_impl,
    attrs = {
        "image": attr.label(doc = "A ko_image, or a ko_image_index with `platform`.", providers = [ImageInfo], mandatory = True),
        "platform": attr.string(doc = "Which image of an index to check, OS/ARCH[/VARIANT]."),
        "entrypoint": attr.string_list(doc = "The config's Entrypoint, exactly (e.g. [\"/ko-app/hello\"])."),
        "cmd": attr.string_list(doc = "The config's Cmd, exactly (unchecked when empty)."),
        "user": attr.string(doc = "The config's User (unchecked when empty)."),
        "workdir": attr.string(doc = "The config's WorkingDir (unchecked when empty)."),
        "env": attr.string_dict(doc = "Variables the config's Env must set to these values (others may be set too), e.g. {\"KO_DATA_PATH\": \"/var/run/ko\"}."),
        "labels": attr.string_dict(doc = "Labels the config must have with these values (others may be set too)."),
        "exposed_ports": attr.string_list(doc = "The config's ExposedPorts, exactly, in any order (e.g. [\"8080/tcp\"]); unchecked when empty."),
        "files": attr.string_dict(doc = "Paths that must exist in the image, each to `MODE` (octal, e.g. `0555`), `MODE UID:GID` (`0555 0:0`), or `\"\"` for any."),
        "absent": attr.string_list(doc = "Paths that must not exist in the image (after whiteouts)."),
        "_template": attr.label(default = ":structure_test.sh.tpl", allow_single_file = True),
    },
    test = True,
    toolchains = [TOOLCHAIN],
)
