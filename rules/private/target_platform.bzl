"""ko_target_platform: the OS/ARCH[/VARIANT] of the configuration it is built
in, read from the target platform's @platforms constraints. ko_image depends
on it through the platform transition to name each image's platform."""

load(":providers.bzl", "TargetPlatformInfo")

# (@platforms constraint, OCI value), first match wins. Both spellings of
# macOS and of 64-bit ARM: Bazel 4's bundled @platforms has them as distinct
# values, newer releases alias one to the other.
_OS = [
    ("linux", "linux"),
    ("macos", "darwin"),
    ("osx", "darwin"),
    ("windows", "windows"),
    ("freebsd", "freebsd"),
    ("openbsd", "openbsd"),
    ("android", "android"),
    ("ios", "ios"),
]

# (@platforms constraint, OCI architecture, variant)
_CPU = [
    ("x86_64", "amd64", ""),
    ("aarch64", "arm64", ""),
    ("arm64", "arm64", ""),
    ("armv7", "arm", "v7"),
    ("x86_32", "386", ""),
    ("s390x", "s390x", ""),
    ("ppc", "ppc64le", ""),
    ("riscv64", "riscv64", ""),
    ("mips64", "mips64", ""),
]

def _first(ctx, kind, table):
    for entry in table:
        constraint = getattr(ctx.attr, "_%s_%s" % (kind, entry[0]))
        if ctx.target_platform_has_constraint(constraint[platform_common.ConstraintValueInfo]):
            return entry
    return None

def _ko_target_platform_impl(ctx):
    os = _first(ctx, "os", _OS)
    cpu = _first(ctx, "cpu", _CPU)
    if not os or not cpu:
        return [TargetPlatformInfo(os = "", arch = "", variant = "", platform = "")]
    platform = "%s/%s" % (os[1], cpu[1])
    if cpu[2]:
        platform += "/" + cpu[2]
    return [TargetPlatformInfo(os = os[1], arch = cpu[1], variant = cpu[2], platform = platform)]

def _constraint_attrs():
    attrs = {}
    for kind, table in [("os", _OS), ("cpu", _CPU)]:
        for entry in table:
            attrs["_%s_%s" % (kind, entry[0])] = attr.label(default = "@platforms//%s:%s" % (kind, entry[0]))
    return attrs

ko_target_platform = rule(
    doc = "Provides TargetPlatformInfo: the OCI platform of the target platform it is configured for (empty when its constraints are not ones rko knows).",
    implementation = _ko_target_platform_impl,
    attrs = _constraint_attrs(),
)
