//! Platforms: `OS/ARCH[/VARIANT]` as users write them, and matching them
//! against what images and indexes declare.

use crate::error::{Error, Result};
use oci_spec::image::{Arch, Os, PlatformBuilder};
use std::fmt;
use std::str::FromStr;

/// A target platform, such as `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// ko's default: what most clusters run.
    pub fn default_target() -> Self {
        Platform::new("linux", "amd64", None)
    }

    /// Whether an image declared as `other` serves this platform. A missing
    /// variant on our side matches any; arm64's `v8` is its default variant.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.arch != other.arch {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.arch == "arm64" && want == "v8",
        }
    }

    pub fn to_oci(&self) -> oci_spec::image::Platform {
        let mut builder = PlatformBuilder::default()
            .os(Os::from(self.os.as_str()))
            .architecture(Arch::from(self.arch.as_str()));
        if let Some(variant) = &self.variant {
            builder = builder.variant(variant.clone());
        }
        builder.build().expect("os and architecture are set")
    }

    pub fn from_oci(platform: &oci_spec::image::Platform) -> Self {
        Platform::new(
            &platform.os().to_string(),
            &platform.architecture().to_string(),
            platform.variant().as_deref(),
        )
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::invalid(format!(
                "invalid platform {s:?}: {why}; expected OS/ARCH[/VARIANT], such as linux/amd64 or linux/arm/v7"
            ))
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid("wrong number of parts"));
        }
        for part in &parts {
            let ok = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if !ok {
                return Err(invalid(&format!("{part:?} is not a valid name")));
            }
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

/// A platform as ko's `--platform` may name it: in full, or by its OS
/// alone (`linux`, ko's `v1.ParsePlatform` leaving the architecture empty),
/// which matches every architecture of that OS the base image has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformPattern {
    Os(String),
    Full(Platform),
}

impl PlatformPattern {
    /// Whether the base image's `platform` is one this pattern asks for.
    pub fn matches(&self, platform: &Platform) -> bool {
        match self {
            PlatformPattern::Os(os) => &platform.os == os,
            PlatformPattern::Full(full) => full.matches(platform),
        }
    }
}

impl FromStr for PlatformPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.contains('/') {
            return s.parse().map(PlatformPattern::Full);
        }
        // One part: the checks of a full platform, with a stand-in architecture.
        format!("{s}/any")
            .parse::<Platform>()
            .map(|p| PlatformPattern::Os(p.os))
            .map_err(|_| {
                Error::invalid(format!(
                    "invalid platform {s:?}: {s:?} is not a valid name; expected OS or \
                     OS/ARCH[/VARIANT], such as linux or linux/arm/v7"
                ))
            })
    }
}

impl fmt::Display for PlatformPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformPattern::Os(os) => f.write_str(os),
            PlatformPattern::Full(full) => full.fmt(f),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_or_explain() {
        let cases = [
            ("linux/amd64", Ok("linux/amd64")),
            ("linux/arm/v7", Ok("linux/arm/v7")),
            ("linux", Err("wrong number of parts")),
            ("linux/amd64/v3/x", Err("wrong number of parts")),
            ("linux//v7", Err("\"\" is not a valid name")),
            ("Linux/AMD64", Err("is not a valid name")),
        ];
        for (input, want) in cases {
            match (input.parse::<Platform>(), want) {
                (Ok(p), Ok(want)) => assert_eq!(p.to_string(), want),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn variants_match_loosely_only_where_they_may() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        assert!(p("linux/arm64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        assert!(!p("linux/arm/v7").matches(&p("linux/arm/v6")));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
    }

    #[test]
    fn patterns_name_an_os_alone_or_a_whole_platform() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        let cases = [
            (
                "linux",
                Ok(vec!["linux/amd64", "linux/arm64", "linux/arm/v7"]),
            ),
            ("windows", Ok(vec!["windows/amd64"])),
            ("linux/arm64", Ok(vec!["linux/arm64"])),
            ("linux/arm", Ok(vec!["linux/arm/v7"])),
            ("", Err("\"\" is not a valid name")),
            ("Linux", Err("\"Linux\" is not a valid name")),
            ("linux/", Err("\"\" is not a valid name")),
        ];
        let base = [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "windows/amd64",
        ];
        for (input, want) in cases {
            match (input.parse::<PlatformPattern>(), want) {
                (Ok(pattern), Ok(want)) => {
                    assert_eq!(pattern.to_string(), input);
                    let matched: Vec<&str> = base
                        .into_iter()
                        .filter(|b| pattern.matches(&p(b)))
                        .collect();
                    assert_eq!(matched, want, "{input}");
                }
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn oci_round_trip_keeps_every_part() {
        let p: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(Platform::from_oci(&p.to_oci()), p);
    }
}
