"""Command-line settings of rko's rules (Starlark build settings), read by ko_push."""

SettingInfo = provider(
    doc = "The value of one of rko's build settings.",
    fields = {"value": "The setting's string value."},
)

def _string_setting_impl(ctx):
    return [SettingInfo(value = ctx.build_setting_value)]

string_setting = rule(
    doc = "A string build setting, set on the command line as `--@rko//rules:NAME=VALUE` (or in .bazelrc).",
    implementation = _string_setting_impl,
    build_setting = config.string(flag = True),
)
