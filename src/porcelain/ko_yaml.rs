//! `.ko.yaml`: ko's build configuration, plus rko's image configuration
//! (`defaultImage:` and each build's `image:`). Unknown keys are errors.

use crate::error::{Error, Result};
use crate::porcelain::template::{Needs, Origin, Templating, Value};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KoConfig {
    pub default_base_image: Option<String>,
    #[serde(default)]
    pub base_image_overrides: BTreeMap<String, String>,
    #[serde(default)]
    pub default_platforms: Vec<String>,
    /// These three, as ko reads them with viper's GetStringSlice, may be
    /// one string of whitespace-separated values instead of a list.
    #[serde(default, deserialize_with = "fields")]
    pub default_env: Vec<String>,
    #[serde(default, deserialize_with = "fields")]
    pub default_flags: Vec<String>,
    #[serde(default, deserialize_with = "fields")]
    pub default_ldflags: Vec<String>,
    #[serde(default)]
    pub default_image: ImageSettings,
    #[serde(default)]
    pub builds: Vec<BuildConfig>,
    /// The file read (`builds[].dir` is relative to its directory).
    #[serde(skip)]
    pub path: PathBuf,
}

/// One `builds[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// ko names builds by `id` for its own tooling; rko accepts and ignores it.
    #[serde(default, rename = "id")]
    _id: serde::de::IgnoredAny,
    /// The directory `go build` runs in (relative to `.ko.yaml`).
    #[serde(default)]
    pub dir: String,
    /// The import path or directory of the main package (relative to `dir`).
    #[serde(default)]
    pub main: String,
    /// Build environment (`GOEXPERIMENT=...`), not the container's.
    #[serde(default)]
    pub env: Vec<String>,
    /// A string is split at whitespace, as ko's `FlagArray` does.
    #[serde(default, deserialize_with = "fields")]
    pub flags: Vec<String>,
    /// A string is one value, as ko's `StringArray` does.
    #[serde(default, deserialize_with = "one_or_many")]
    pub ldflags: Vec<String>,
    /// File capabilities of the binary (ko's extension): capability names
    /// (`net_bind_service`) or `setcap` clauses (`cap_bpf,cap_perfmon=ep`);
    /// a string is split at whitespace (ko's `FlagArray`).
    #[serde(default, deserialize_with = "fields")]
    pub linux_capabilities: Vec<String>,
    #[serde(default)]
    pub image: ImageSettings,
    /// `dir/main` as an absolute path with symlinks resolved: the package
    /// directory this entry applies to.
    #[serde(skip)]
    pub main_dir: PathBuf,
}

/// The image config rko adds from `.ko.yaml` (ko has no equivalent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSettings {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container's runtime environment, `K=V` each.
    #[serde(default)]
    pub env: Vec<String>,
    /// Fixed arguments after the entrypoint (the image's `Cmd`).
    pub args: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

impl ImageSettings {
    /// `self` with `over` on top, key by key: maps and env merge entry by
    /// entry, anything `over` sets wins.
    pub fn merged(&self, over: &ImageSettings) -> ImageSettings {
        let mut labels = self.labels.clone();
        labels.extend(over.labels.clone());
        let mut annotations = self.annotations.clone();
        annotations.extend(over.annotations.clone());
        let mut env = self.env.clone();
        for entry in &over.env {
            let key = entry.split('=').next().unwrap_or(entry);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.clone());
        }
        ImageSettings {
            labels,
            annotations,
            env,
            args: over.args.clone().or_else(|| self.args.clone()),
            workdir: over.workdir.clone().or_else(|| self.workdir.clone()),
            user: over.user.clone().or_else(|| self.user.clone()),
        }
    }
}

impl KoConfig {
    /// Reads `.ko.yaml` (or `.ko.yaml` inside `path` when it is a
    /// directory); a missing file is the empty configuration.
    pub fn load(path: &Path) -> Result<KoConfig> {
        let path = if path.is_dir() {
            path.join(".ko.yaml")
        } else {
            path.to_path_buf()
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("reading", &path, e)),
        };
        KoConfig::parse(&text, &path)
    }

    /// Parses the text of the file at `path`, locating each build's
    /// `dir/main` relative to the file's directory.
    pub fn parse(text: &str, path: &Path) -> Result<KoConfig> {
        let mut config: KoConfig = if text.trim().is_empty() {
            KoConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|e| Error::file(path, e.to_string()))?
        };
        config.path = path.to_path_buf();
        let dir = config.dir().to_path_buf();
        for build in &mut config.builds {
            let main = if build.main.is_empty() {
                "."
            } else {
                &build.main
            };
            let main_dir = dir.join(&build.dir).join(main);
            build.main_dir = main_dir.canonicalize().unwrap_or(main_dir);
        }
        Ok(config)
    }

    /// The directory holding the file.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// Where the key `key` of this file is, for messages.
    pub fn origin(&self, key: impl Into<String>) -> Origin {
        Origin::file(&self.path, key)
    }

    /// Checks that every `flags` and `ldflags` template parses, so that a
    /// mistake is reported before anything is built. They are rendered
    /// for each build (see [`Templating::build_args`]), as ko renders
    /// them; `env` values are not templates in ko, and are taken as written.
    fn check_build_templates(&self) -> Result<()> {
        let lists = [
            (&self.default_flags, "defaultFlags".to_string()),
            (&self.default_ldflags, "defaultLdflags".to_string()),
        ];
        let builds = self.builds.iter().enumerate().flat_map(|(i, b)| {
            [
                (&b.flags, format!("builds[{i}].flags")),
                (&b.ldflags, format!("builds[{i}].ldflags")),
            ]
        });
        for (values, key) in lists.into_iter().chain(builds) {
            let origin = self.origin(key);
            for value in values {
                origin.parse(value)?;
            }
        }
        Ok(())
    }

    /// The file with its image settings (rko's own keys) rendered from the
    /// process environment and the repository holding the file, after
    /// checking the build templates.
    pub fn render(&self, templating: &Templating) -> Result<KoConfig> {
        self.check_build_templates()?;
        let mut templates = Vec::new();
        self.map_images(|origin, text| {
            templates.push(origin.parse(text)?);
            Ok(text.to_string())
        })?;
        let data = templating
            .config_data(self.dir(), Needs::of(&templates))?
            .value();
        self.render_images(&data)
    }

    /// The file with its image settings rendered with `data`.
    pub fn render_images(&self, data: &Value) -> Result<KoConfig> {
        let (default_image, images) =
            self.map_images(|origin, text| crate::porcelain::template::render(text, data, origin))?;
        let builds = self
            .builds
            .iter()
            .zip(images)
            .map(|(build, image)| BuildConfig {
                image,
                ..build.clone()
            })
            .collect();
        Ok(KoConfig {
            default_image,
            builds,
            ..self.clone()
        })
    }

    /// `defaultImage` and each build's `image` with `f` applied to every
    /// templated value (labels, annotations, env, args).
    fn map_images(
        &self,
        mut f: impl FnMut(&Origin, &str) -> Result<String>,
    ) -> Result<(ImageSettings, Vec<ImageSettings>)> {
        let mut image = |settings: &ImageSettings, key: &str| -> Result<ImageSettings> {
            let mut map = |m: &BTreeMap<String, String>, sub: &str| {
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), f(&self.origin(format!("{key}.{sub}.{k}")), v)?)))
                    .collect::<Result<BTreeMap<_, _>>>()
            };
            let labels = map(&settings.labels, "labels")?;
            let annotations = map(&settings.annotations, "annotations")?;
            let mut list = |values: &[String], sub: &str| {
                let origin = self.origin(format!("{key}.{sub}"));
                values
                    .iter()
                    .map(|v| f(&origin, v))
                    .collect::<Result<Vec<_>>>()
            };
            Ok(ImageSettings {
                labels,
                annotations,
                env: list(&settings.env, "env")?,
                args: settings
                    .args
                    .as_ref()
                    .map(|a| list(a, "args"))
                    .transpose()?,
                workdir: settings.workdir.clone(),
                user: settings.user.clone(),
            })
        };
        let default_image = image(&self.default_image, "defaultImage")?;
        let builds = self
            .builds
            .iter()
            .enumerate()
            .map(|(i, b)| image(&b.image, &format!("builds[{i}].image")))
            .collect::<Result<Vec<_>>>()?;
        Ok((default_image, builds))
    }
}

/// A list, or one string split at whitespace (ko's `FlagArray`, viper's
/// string slices).
fn fields<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    Ok(match StringOrList::deserialize(deserializer)? {
        StringOrList::One(s) => s.split_whitespace().map(str::to_string).collect(),
        StringOrList::Many(list) => list,
    })
}

/// A list, or one string as a list of one (ko's `StringArray`).
fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<String>, D::Error> {
    Ok(match StringOrList::deserialize(deserializer)? {
        StringOrList::One(s) => vec![s],
        StringOrList::Many(list) => list,
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KoConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".ko.yaml");
        std::fs::write(&path, text).unwrap();
        KoConfig::load(&path)
    }

    #[test]
    fn a_full_config_parses() {
        let config = parse(
            "defaultBaseImage: cgr.dev/chainguard/static\n\
             defaultPlatforms: [linux/amd64, linux/arm64]\n\
             defaultImage:\n  labels: {team: web}\n  user: '65532'\n\
             builds:\n- id: app\n  main: ./cmd/app\n  ldflags: ['-X main.v={{.Env.V}}']\n  image:\n    args: [serve]\n    labels: {tier: front}\n",
        )
        .unwrap();
        assert_eq!(config.default_platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(config.builds[0].main, "./cmd/app");
        let merged = config.default_image.merged(&config.builds[0].image);
        assert_eq!(merged.labels.len(), 2);
        assert_eq!(merged.user.as_deref(), Some("65532"));
        assert_eq!(merged.args, Some(vec!["serve".to_string()]));
    }

    #[test]
    fn unknown_keys_are_named_with_their_position() {
        let err = parse("defaultBaseImage: x\ndefaultPlatform: [linux/amd64]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `defaultPlatform`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse("builds:\n- id: a\n  mian: ./x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `mian`"), "{err}");
    }

    /// ko's pkg/build/config.go: `flags` and `linux_capabilities` are a
    /// `FlagArray` (a string is split at whitespace), `ldflags` a
    /// `StringArray` (a string is one value); the `default*` lists are read
    /// with viper's GetStringSlice (a string is split at whitespace).
    #[test]
    fn lists_may_be_written_as_one_string_as_ko_reads_them() {
        let config = parse(
            "defaultFlags: -tags=a -trimpath\n\
             defaultLdflags: -s -w\n\
             defaultEnv: A=1 B=2\n\
             builds:\n\
             - main: ./cmd/app\n  flags: -v -x\n  ldflags: -s -w\n  linux_capabilities: cap_bpf,cap_perfmon=ep net_raw\n",
        )
        .unwrap();
        let build = &config.builds[0];
        let cases: [(&str, &Vec<String>, &[&str]); 6] = [
            (
                "defaultFlags",
                &config.default_flags,
                &["-tags=a", "-trimpath"],
            ),
            ("defaultLdflags", &config.default_ldflags, &["-s", "-w"]),
            ("defaultEnv", &config.default_env, &["A=1", "B=2"]),
            ("flags", &build.flags, &["-v", "-x"]),
            ("ldflags", &build.ldflags, &["-s -w"]),
            (
                "linux_capabilities",
                &build.linux_capabilities,
                &["cap_bpf,cap_perfmon=ep", "net_raw"],
            ),
        ];
        for (key, got, want) in cases {
            assert_eq!(got, want, "{key}");
        }
    }

    /// ko templates flags and ldflags only (pkg/build/gobuild.go
    /// `createBuildArgs`): a build's env is taken as written, and the flag
    /// templates are checked when the file is read but rendered per build.
    #[test]
    fn env_is_not_a_template_and_flags_are_rendered_later() {
        let config = parse(
            "defaultEnv: ['GOEXPERIMENT={{.Env.NOPE}}']\n\
             defaultLdflags: ['-X main.v={{.Env.NOPE}}']\n\
             defaultImage:\n  labels: {v: '{{.Timestamp}}'}\n",
        )
        .unwrap();
        let templating = Templating::new(Default::default(), "go".into(), "/nonexistent".into(), 7);
        let rendered = config.render(&templating).unwrap();
        assert_eq!(rendered.default_env, ["GOEXPERIMENT={{.Env.NOPE}}"]);
        assert_eq!(rendered.default_ldflags, ["-X main.v={{.Env.NOPE}}"]);
        assert_eq!(rendered.default_image.labels["v"], "7");
        let bad = parse("defaultFlags: ['{{if}}']\n").unwrap();
        let err = bad.render(&templating).unwrap_err().to_string();
        assert!(err.contains("defaultFlags: bad template {{if}}"), "{err}");
    }

    mod properties {
        use super::*;
        use crate::porcelain::template::Templating;
        use proptest::prelude::*;

        /// `.ko.yaml`-shaped text: known and unknown keys, lists, templates.
        fn ko_yaml() -> impl Strategy<Value = String> {
            let key = prop_oneof![
                Just("defaultBaseImage"),
                Just("defaultPlatforms"),
                Just("defaultEnv"),
                Just("defaultFlags"),
                Just("defaultLdflags"),
                Just("baseImageOverrides"),
                Just("builds"),
                Just("defaultImage"),
                Just("unknownKey"),
            ];
            let value = prop_oneof![
                "[a-z/.:{}$ -]{0,20}".prop_map(|s| format!("'{s}'")),
                prop::collection::vec("[a-zA-Z0-9={}. -]{0,12}", 0..3).prop_map(|v| format!(
                    "[{}]",
                    v.iter()
                        .map(|s| format!("'{s}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Just("\n- main: ./cmd/app\n  ldflags: ['-X main.v={{.Env.V}}']".to_string()),
                Just("{a: b}".to_string()),
            ];
            prop::collection::vec((key, value), 0..6).prop_map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\n"))
                    .collect::<String>()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn parsing_any_text_never_panics(text in any::<String>()) {
                let _ = KoConfig::parse(&text, Path::new("/m/.ko.yaml"));
            }

            #[test]
            fn parsing_and_rendering_ko_yaml_shaped_text_never_panics(text in ko_yaml()) {
                if let Ok(config) = KoConfig::parse(&text, Path::new("/m/.ko.yaml")) {
                    let templating = Templating::new(Default::default(), "go".into(), "/nonexistent".into(), 0);
                    let _ = config.render(&templating);
                }
            }
        }
    }
}
