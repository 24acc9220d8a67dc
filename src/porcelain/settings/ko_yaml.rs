//! `.ko.yaml`: ko's build configuration, plus rko's image configuration
//! (`defaultImage:` and each build's `image:`). Keys are matched without
//! case and unknown keys are ignored with a warning, as ko (viper and
//! mapstructure) reads them; rko's own `image` settings are strict.

use crate::error::{Error, Result};
pub use crate::porcelain::settings::ko_yaml_source::ConfigSource;
use crate::porcelain::settings::template::{Needs, Origin, Templating, Value};
use oci_spec::image::Digest;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Default)]
pub struct KoConfig {
    pub default_base_image: Option<String>,
    pub base_image_overrides: BTreeMap<String, String>,
    pub default_platforms: Vec<String>,
    /// These three, as ko reads them with viper's GetStringSlice, may be
    /// one string of whitespace-separated values instead of a list.
    pub default_env: Vec<String>,
    pub default_flags: Vec<String>,
    pub default_ldflags: Vec<String>,
    pub default_image: ImageSettings,
    pub builds: Vec<BuildConfig>,
    /// Keys ko does not know (`someKey`, `builds[0].someKey`), ignored.
    pub ignored: Vec<String>,
    /// The file read (empty when there is none).
    pub path: PathBuf,
    /// The SHA-256 of the bytes read (none when there is no file), which
    /// the provenance records.
    pub digest: Option<Digest>,
}

/// One `builds[]` entry.
#[derive(Debug, Clone, Default)]
pub struct BuildConfig {
    /// ko's name for the entry, in its `Using build config` line.
    pub id: Option<String>,
    /// The directory `go build` runs in (relative to the working directory).
    pub dir: String,
    /// The import path or directory of the main package (relative to `dir`).
    pub main: String,
    /// Build environment (`GOEXPERIMENT=...`), not the container's.
    pub env: Vec<String>,
    /// A string is split at whitespace, as ko's `FlagArray` does.
    pub flags: Vec<String>,
    /// A string is one value, as ko's `StringArray` does.
    pub ldflags: Vec<String>,
    /// File capabilities of the binary (ko's extension): capability names
    /// (`net_bind_service`) or `setcap` clauses (`cap_bpf,cap_perfmon=ep`);
    /// a string is split at whitespace (ko's `FlagArray`).
    pub linux_capabilities: Vec<String>,
    pub image: ImageSettings,
    /// Keys ko does not know, ignored.
    pub ignored: Vec<String>,
    /// `dir` from the working directory.
    pub build_dir: PathBuf,
    /// `dir/main` from the working directory (a `.go` file's directory):
    /// the package directory this entry applies to; absolute with
    /// symlinks resolved once [`KoConfig::load`] has checked it exists.
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
    /// Reads the configuration `source` names (none is the empty
    /// configuration), and checks that each build's `dir/main` exists, as
    /// ko's `LoadConfig` does. `dir` and `main` are taken from `work_dir`.
    pub fn load(source: &ConfigSource, work_dir: &Path) -> Result<KoConfig> {
        let Some(path) = source.find()? else {
            let dir = match source {
                ConfigSource::Search(dir) => dir.clone(),
                ConfigSource::Named { path, .. } => path.clone(),
            };
            return KoConfig::parse("", &dir.join(".ko.yaml"), work_dir);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let mut config = KoConfig::parse(&text, &path, work_dir)?;
        config.digest = Some(crate::digest::sha256(text.as_bytes()));
        config.check_mains()?;
        Ok(config)
    }

    /// Parses the text of the file at `path`, locating each build's
    /// `dir/main` from `work_dir` (ko's `createBuildConfigMap`), without
    /// looking at the file system.
    pub fn parse(text: &str, path: &Path, work_dir: &Path) -> Result<KoConfig> {
        let mut config: KoConfig = if text.trim().is_empty() {
            KoConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|e| Error::file(path, e.to_string()))?
        };
        config.path = path.to_path_buf();
        for build in &mut config.builds {
            build.build_dir = clean(&work_dir.join(&build.dir));
            build.main_dir = clean(&build.build_dir.join(build.main_or_dot()));
        }
        Ok(config)
    }

    /// Checks that every build's `dir/main` is there; a `.go` file stands
    /// for its directory (as in GoReleaser and ko).
    fn check_mains(&mut self) -> Result<()> {
        for (i, build) in self.builds.iter_mut().enumerate() {
            let meta = std::fs::metadata(&build.main_dir).map_err(|e| {
                let relative = clean(&Path::new(&build.dir).join(build.main_or_dot()));
                Error::file(
                    &self.path,
                    format!(
                        "builds[{i}]: stat {}: {e} (dir and main are relative to the \
                         working directory, as in ko)",
                        relative.display()
                    ),
                )
            })?;
            if meta.is_file() {
                if let Some(parent) = build.main_dir.parent() {
                    build.main_dir = parent.to_path_buf();
                }
            }
            if let Ok(real) = build.main_dir.canonicalize() {
                build.main_dir = real;
            }
        }
        Ok(())
    }

    /// What ko warns about nothing for: the keys it ignores, each named
    /// with the file.
    pub fn warnings(&self) -> Vec<String> {
        let builds = self.builds.iter().enumerate().flat_map(|(i, b)| {
            b.ignored
                .iter()
                .map(move |key| format!("builds[{i}].{key}"))
        });
        self.ignored
            .iter()
            .cloned()
            .chain(builds)
            .map(|key| {
                format!(
                    "{}: unknown key {key:?} ignored (ko ignores it too)",
                    self.path.display()
                )
            })
            .collect()
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
    pub(crate) fn check_build_templates(&self) -> Result<()> {
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
        let (default_image, images) = self.map_images(|origin, text| {
            crate::porcelain::settings::template::render(text, data, origin)
        })?;
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

impl BuildConfig {
    /// `main`, or `.` when it is not given.
    fn main_or_dot(&self) -> &str {
        if self.main.is_empty() {
            "."
        } else {
            &self.main
        }
    }
}

/// `path` with `.` left out and `..` taken back, as Go's filepath.Clean.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KoConfig> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cmd/app")).unwrap();
        std::fs::write(dir.path().join(".ko.yaml"), text).unwrap();
        KoConfig::load(&ConfigSource::Search(dir.path().into()), dir.path())
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

    /// viper and mapstructure match keys without case and ignore the
    /// ones they do not know; rko warns about those, naming the file.
    #[test]
    fn keys_match_without_case_and_unknown_ones_are_warned_about() {
        let config = parse(
            "defaultbaseimage: x\ndefaultPlatform: [linux/amd64]\n\
             builds:\n- ID: a\n  Main: ./cmd/app\n  mian: ./x\n",
        )
        .unwrap();
        assert_eq!(config.default_base_image.as_deref(), Some("x"));
        assert_eq!(config.builds[0].id.as_deref(), Some("a"));
        assert_eq!(config.builds[0].main, "./cmd/app");
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        for (warning, key) in warnings.iter().zip(["defaultPlatform", "builds[0].mian"]) {
            assert!(warning.contains(".ko.yaml: unknown key"), "{warning}");
            assert!(warning.contains(&format!("{key:?}")), "{warning}");
        }
        let err = parse("defaultEnv: [A=1]\nDEFAULTENV: [B=2]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("defaultEnv is given twice"), "{err}");
        let err = parse("defaultPlatforms: {a: b}\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        let err = parse("defaultImage: {labls: {}}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `labls`"),
            "rko's own keys are strict: {err}"
        );
    }

    /// ko's `LoadConfig` and `createBuildConfigMap`: `KO_CONFIG_PATH` must
    /// name a regular file of a type viper reads, or a directory holding
    /// `.ko.yaml`; without it, viper looks for `.ko.<ext>` in its order;
    /// `dir/main` must exist, from the working directory.
    #[test]
    fn the_file_is_found_as_ko_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("conf/.ko.yaml", "defaultLdflags: [-s]\n"),
            ("conf/x.yml", "defaultLdflags: [-yml]\n"),
            ("conf/x.json", "{\"defaultLdflags\": [\"-json\"]}"),
            ("conf/x.conf", ""),
            ("conf/x", ""),
            ("empty/.keep", ""),
            ("search/.ko.yaml", "defaultLdflags: [-yaml]\n"),
            ("search/.ko.json", "{\"defaultLdflags\": [\"-json-first\"]}"),
            ("toml/.ko.toml", ""),
            ("gone/.ko.yaml", "builds:\n- main: ./cmd/gone\n"),
            ("file/.ko.yaml", "builds:\n- main: ./cmd/app/main.go\n"),
            ("file/cmd/app/main.go", ""),
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        let named = |given: &str| ConfigSource::Named {
            given: given.into(),
            path: root.join(given),
        };
        let search = |sub: &str| ConfigSource::Search(root.join(sub));
        let cases = [
            (named("conf"), "-s"),
            (named("conf/x.yml"), "-yml"),
            (named("conf/x.json"), "-json"),
            (named("missing.yaml"), "error: KO_CONFIG_PATH=\"missing.yaml\": error looking for config file: stat"),
            (named("empty"), "error: KO_CONFIG_PATH=\"empty\": error looking for config file: stat"),
            (named("conf/x.conf"), "error: KO_CONFIG_PATH=\"conf/x.conf\": error reading config file: Unsupported Config Type \"conf\""),
            (named("conf/x"), "error: KO_CONFIG_PATH=\"conf/x\": error reading config file: Unsupported Config Type \"\""),
            (ConfigSource::Named { given: "/dev/null".into(), path: "/dev/null".into() }, "error: KO_CONFIG_PATH=\"/dev/null\": config file /dev/null is not a regular file"),
            (search("empty"), ""),
            (search("search"), "-json-first"),
            (search("toml"), "error:"),
        ];
        for (source, want) in cases {
            let got = match KoConfig::load(&source, root) {
                Ok(config) => config.default_ldflags.join(" "),
                Err(e) => format!("error: {e}"),
            };
            assert!(
                got.starts_with(want) && (want.is_empty() == got.is_empty()),
                "{source:?}: {got}"
            );
        }
        let err = KoConfig::load(&search("gone"), root)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("builds[0]: stat cmd/gone: No such file"),
            "{err}"
        );
        let config = KoConfig::load(&search("file"), &root.join("file")).unwrap();
        assert_eq!(
            config.builds[0].main_dir,
            root.join("file/cmd/app").canonicalize().unwrap()
        );
    }

    #[test]
    fn dir_and_main_are_taken_from_the_working_directory() {
        let cases = [
            ("builds:\n- main: ./cmd/app\n", "/w/cmd/app", "/w"),
            (
                "builds:\n- dir: sub\n  main: ./cmd/../app\n",
                "/w/sub/app",
                "/w/sub",
            ),
            ("builds:\n- dir: .\n", "/w", "/w"),
        ];
        for (yaml, main_dir, build_dir) in cases {
            let config =
                KoConfig::parse(yaml, Path::new("/elsewhere/.ko.yaml"), Path::new("/w")).unwrap();
            assert_eq!(config.builds[0].main_dir, Path::new(main_dir), "{yaml}");
            assert_eq!(config.builds[0].build_dir, Path::new(build_dir), "{yaml}");
        }
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
        use crate::porcelain::settings::template::Templating;
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
                let _ = KoConfig::parse(&text, Path::new("/m/.ko.yaml"), Path::new("/m"));
            }

            #[test]
            fn parsing_and_rendering_ko_yaml_shaped_text_never_panics(text in ko_yaml()) {
                if let Ok(config) = KoConfig::parse(&text, Path::new("/m/.ko.yaml"), Path::new("/m")) {
                    let templating = Templating::new(Default::default(), "go".into(), "/nonexistent".into(), 0);
                    let _ = config.render(&templating);
                }
            }
        }
    }
}
