"""rko_layout: the files of a pulled OCI layout, reassembled into one tree artifact.

rko_base_image's repository lists every file of the layout it pulled (each blob by
its digest, index.json, oci-layout) in this rule's `files`, so Bazel hashes each of
them: a new pinned digest changes the inputs of every action that uses the base,
locally and in a remote cache. A directory exported as one source file would not be
looked into, and the image would stay on the old base until `bazel clean`."""

# Arguments: the layout directory, then pairs of path in the layout and file.
_COPY = """out=$1; shift
while [ $# -gt 0 ]; do
    case $1 in */*) mkdir -p "$out/${1%/*}" || exit 1 ;; esac
    cp "$2" "$out/$1" || exit 1
    shift 2
done"""

def _rko_layout_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add(layout.path)
    inputs = []
    for target, dest in ctx.attr.files.items():
        file = target.files.to_list()[0]
        args.add_all([dest, file])
        inputs.append(file)

    # cp, not a symlink: a layout's blobs are regular files (rko refuses to follow links).
    ctx.actions.run_shell(
        command = _COPY,
        arguments = [args],
        inputs = inputs,
        outputs = [layout],
        mnemonic = "RkoBaseLayout",
        progress_message = "RkoBaseLayout %s" % ctx.label,
    )
    return [DefaultInfo(files = depset([layout]))]

rko_layout = rule(
    doc = "An OCI image layout reassembled from its files; rko_base_image's `@NAME//:layout`.",
    implementation = _rko_layout_impl,
    attrs = {
        "files": attr.label_keyed_string_dict(
            doc = "Each file of the layout, to its path inside the layout (`index.json`, `blobs/sha256/<hex>`).",
            allow_files = True,
            mandatory = True,
        ),
    },
)
