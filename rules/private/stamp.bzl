"""Stamping: whether `--stamp` is on, and `{KEY}` placeholders replaced from Bazel's status files."""

StampInfo = provider(
    doc = "Whether the build stamps (`--stamp`).",
    fields = {"enabled": "True under --stamp."},
)

def _stamp_flag_impl(ctx):
    return [StampInfo(enabled = ctx.attr.enabled)]

stamp_flag = rule(
    doc = "Carries `--stamp` to rules (`//rules/private:stamp_setting`, set through a select on a config_setting).",
    implementation = _stamp_flag_impl,
    attrs = {"enabled": attr.bool(doc = "Whether --stamp is on.")},
)

STAMP_ATTRS = {
    "stamp": attr.int(
        doc = "1: always stamp; 0: never; -1: as `--stamp` says.",
        default = -1,
        values = [-1, 0, 1],
    ),
    "_stamp_flag": attr.label(default = "//rules/private:stamp_setting", providers = [StampInfo]),
    "_stamp_awk": attr.label(default = "//rules/private:stamp.awk", allow_single_file = True),
}

def stamping(ctx):
    """Whether this target stamps: its `stamp` attribute, or `--stamp` when it is -1."""
    if ctx.attr.stamp >= 0:
        return ctx.attr.stamp == 1
    return ctx.attr._stamp_flag[StampInfo].enabled

def stamp_file(ctx, template, out):
    """`out` is `template` with each `{KEY}` replaced by KEY's value in stable-status.txt or volatile-status.txt.

    Args:
      ctx: a context whose rule has STAMP_ATTRS.
      template: the file with placeholders.
      out: the file to write.
    """
    ctx.actions.run_shell(
        command = 'awk -f "$1" "$2" "$3" "$4" > "$5"',
        arguments = [ctx.file._stamp_awk.path, ctx.info_file.path, ctx.version_file.path, template.path, out.path],
        inputs = [ctx.file._stamp_awk, ctx.info_file, ctx.version_file, template],
        outputs = [out],
        mnemonic = "RkoStamp",
        progress_message = "RkoStamp %s" % ctx.label,
    )

def has_placeholder(values):
    """Whether a string of `values` holds a `{KEY}` placeholder, as stamp.awk replaces them.

    Args:
      values: a list of strings.

    Returns:
      True when one holds `{`, a key of letters, digits and `_`, then `}`.
    """
    for value in values:
        for start in range(len(value)):
            if value[start] != "{":
                continue
            end = value.find("}", start + 1)
            if end > start + 1 and _is_key(value[start + 1:end]):
                return True
    return False

_KEY_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

def _is_key(text):
    for character in text.elems():
        if character not in _KEY_CHARACTERS:
            return False
    return True
