//! Whether a Go binary fits the image it goes into: the GOOS/GOARCH (and,
//! for a platform with a variant, GOARM or GOAMD64) its build information
//! records against the image's platform. The caller reads the build
//! information; this module only compares, so the image layer needs no Go.

use crate::error::{Error, Result};
use crate::image::platform::Platform;
use std::path::Path;

/// Refuses `binary` (named in the error) when its Go build `settings` say
/// another platform than `platform`.
pub fn check(binary: &Path, settings: &[(String, String)], platform: &Platform) -> Result<()> {
    compatible(settings, platform).map_err(|why| Error::file(binary, why))
}

/// The rule, pure: `Err` says what differs and what to do.
fn compatible(settings: &[(String, String)], want: &Platform) -> Result<(), String> {
    let setting = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let (Some(goos), Some(goarch)) = (setting("GOOS"), setting("GOARCH")) else {
        return Err(format!(
            "its Go build information records no GOOS/GOARCH, so it cannot be checked against {want}: build it with Go 1.18 or later"
        ));
    };
    let fix = format!(
        "build it with GOOS={} GOARCH={}{}, or make the image's platform {goos}/{goarch}",
        want.os,
        want.arch,
        variant_setting(want)
            .map(|(key, value)| format!(" {key}={value}"))
            .unwrap_or_default()
    );
    if goos != want.os || goarch != want.arch {
        return Err(format!(
            "is a Go binary for {goos}/{goarch} (GOOS={goos} GOARCH={goarch}), but the image is for {want}: {fix}"
        ));
    }
    if let Some((key, value)) = variant_setting(want) {
        // GOARM may carry a float mode: "7,softfloat".
        let have = setting(key).map(|v| v.split(',').next().unwrap_or(v));
        if have.is_some_and(|have| have != value) {
            return Err(format!(
                "is a Go binary built with {key}={}, but the image is for {want}, which needs {key}={value}: {fix}",
                have.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// The Go setting a platform variant stands for, as ko's `buildEnv` sets it
/// (pkg/build/gobuild.go): arm's `vN` is GOARM=N (5 to 7; v8 builds with 7),
/// amd64's `vN` is GOAMD64=vN. Other variants say nothing Go records.
fn variant_setting(platform: &Platform) -> Option<(&'static str, String)> {
    let variant = platform.variant.as_deref()?;
    match platform.arch.as_str() {
        "arm" => {
            let level: u32 = variant.strip_prefix('v')?.parse().ok()?;
            (level >= 5).then(|| ("GOARM", level.min(7).to_string()))
        }
        "amd64" => Some(("GOAMD64", variant.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Build settings, the image's platform, and what `compatible` says.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Result<(), &'a str>);

    #[test]
    fn a_binary_fits_only_the_platform_it_was_built_for() {
        let linux_amd64 = [("GOOS", "linux"), ("GOARCH", "amd64"), ("GOAMD64", "v1")];
        let darwin_arm64 = [("GOOS", "darwin"), ("GOARCH", "arm64")];
        let linux_arm7 = [("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7")];
        let linux_arm6 = [
            ("GOOS", "linux"),
            ("GOARCH", "arm"),
            ("GOARM", "6,softfloat"),
        ];
        let cases: &[Case] = &[
            (&linux_amd64, "linux/amd64", Ok(())),
            (
                &darwin_arm64,
                "linux/amd64",
                Err("is a Go binary for darwin/arm64 (GOOS=darwin GOARCH=arm64), but the image is for linux/amd64: build it with GOOS=linux GOARCH=amd64, or make the image's platform darwin/arm64"),
            ),
            (&linux_amd64, "linux/arm64", Err("for linux/amd64 (GOOS=linux GOARCH=amd64), but the image is for linux/arm64")),
            (&darwin_arm64, "darwin/arm64", Ok(())),
            (&darwin_arm64, "linux/arm64/v8", Err("for darwin/arm64")),
            (&linux_arm7, "linux/arm/v7", Ok(())),
            (&linux_arm7, "linux/arm/v8", Ok(())),
            (&linux_arm7, "linux/arm", Ok(())),
            (
                &linux_arm6,
                "linux/arm/v7",
                Err("built with GOARM=6, but the image is for linux/arm/v7, which needs GOARM=7: build it with GOOS=linux GOARCH=arm GOARM=7"),
            ),
            (&linux_arm6, "linux/arm/v6", Ok(())),
            (&linux_amd64, "linux/amd64/v3", Err("built with GOAMD64=v1, but the image is for linux/amd64/v3, which needs GOAMD64=v3")),
            (&[("GOOS", "linux")], "linux/amd64", Err("records no GOOS/GOARCH")),
        ];
        for (pairs, platform, want) in cases {
            let got = compatible(&settings(pairs), &platform.parse().unwrap());
            match (&got, want) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => {
                    assert!(got.contains(want), "{pairs:?} on {platform}: {got}")
                }
                _ => panic!("{pairs:?} on {platform}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_error_names_the_binary() {
        let err = check(
            Path::new("bazel-out/bin/hello"),
            &settings(&[("GOOS", "darwin"), ("GOARCH", "arm64")]),
            &"linux/amd64".parse().unwrap(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bazel-out/bin/hello: is a Go binary for darwin/arm64"),
            "{err}"
        );
    }
}
