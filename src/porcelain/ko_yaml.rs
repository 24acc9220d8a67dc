//! `.ko.yaml`: ko's build configuration, plus rko's image configuration
//! (`defaultImage:` and each build's `image:`). Unknown keys are errors.

use crate::error::{Error, Result};
use crate::porcelain::template::{render, TemplateData};
use serde::Deserialize;
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
    #[serde(default)]
    pub default_env: Vec<String>,
    #[serde(default)]
    pub default_flags: Vec<String>,
    #[serde(default)]
    pub default_ldflags: Vec<String>,
    #[serde(default)]
    pub default_image: ImageSettings,
    #[serde(default)]
    pub builds: Vec<BuildConfig>,
    /// The file read (`builds[].dir` is relative to its directory).
    #[serde(skip)]
    pub path: PathBuf,
    /// Whether any value uses a `.Git` template (git is then asked).
    #[serde(skip)]
    pub uses_git: bool,
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
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub ldflags: Vec<String>,
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
        config.uses_git = text.contains(".Git");
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

    /// Renders every templated value (env, flags, ldflags, image settings).
    pub fn render(&self, data: &TemplateData) -> Result<KoConfig> {
        let file = &self.path;
        let list = |values: &[String], key: &str| -> Result<Vec<String>> {
            values
                .iter()
                .map(|v| render(v, data, &format!("{} {key}", file.display())))
                .collect()
        };
        let image = |settings: &ImageSettings, key: &str| -> Result<ImageSettings> {
            let map =
                |m: &BTreeMap<String, String>, sub: &str| -> Result<BTreeMap<String, String>> {
                    m.iter()
                        .map(|(k, v)| {
                            Ok((
                                k.clone(),
                                render(v, data, &format!("{} {key}.{sub}.{k}", file.display()))?,
                            ))
                        })
                        .collect()
                };
            Ok(ImageSettings {
                labels: map(&settings.labels, "labels")?,
                annotations: map(&settings.annotations, "annotations")?,
                env: list(&settings.env, &format!("{key}.env"))?,
                args: settings
                    .args
                    .as_ref()
                    .map(|a| list(a, &format!("{key}.args")))
                    .transpose()?,
                workdir: settings.workdir.clone(),
                user: settings.user.clone(),
            })
        };
        let mut builds = Vec::new();
        for (i, build) in self.builds.iter().enumerate() {
            let key = format!("builds[{i}]");
            builds.push(BuildConfig {
                env: list(&build.env, &format!("{key}.env"))?,
                flags: list(&build.flags, &format!("{key}.flags"))?,
                ldflags: list(&build.ldflags, &format!("{key}.ldflags"))?,
                image: image(&build.image, &format!("{key}.image"))?,
                ..build.clone()
            });
        }
        Ok(KoConfig {
            default_env: list(&self.default_env, "defaultEnv")?,
            default_flags: list(&self.default_flags, "defaultFlags")?,
            default_ldflags: list(&self.default_ldflags, "defaultLdflags")?,
            default_image: image(&self.default_image, "defaultImage")?,
            builds,
            ..self.clone()
        })
    }
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

    mod properties {
        use super::*;
        use crate::porcelain::template::TemplateData;
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
                    let _ = config.render(&TemplateData::default());
                }
            }
        }
    }
}
