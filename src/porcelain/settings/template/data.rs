//! What ko's templates read (pkg/build/gobuild.go `createTemplateData`):
//! `.Env`, `.GoEnv`, `.Git`, `.Date` and `.Timestamp`; and [`Templating`],
//! which gathers them once per run from values the command line passed
//! down, asking `go env` and git only when a template reads them.

use super::{Map, Origin, Template, Value};
use crate::error::{Error, Result};
use crate::image::config::rfc3339;
use crate::porcelain::settings::plan::PackagePlan;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The data one template runs on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateData {
    pub env: BTreeMap<String, String>,
    pub go_env: BTreeMap<String, String>,
    pub git: GitInfo,
    /// RFC 3339 build time (UTC; ko formats it in the local time zone).
    pub date: String,
    /// Unix seconds of the build time.
    pub timestamp: i64,
}

impl TemplateData {
    /// The data as a template sees it.
    pub fn value(&self) -> Value {
        Value::Map(Map::values([
            ("Env", Value::Map(Map::strings(&self.env))),
            ("GoEnv", Value::Map(Map::strings(&self.go_env))),
            ("Git", self.git.value()),
            ("Date", Value::Str(self.date.clone())),
            ("Timestamp", Value::Int(self.timestamp)),
        ]))
    }
}

/// The state of a git repository, as ko's pkg/internal/git `GetInfo` reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GitInfo {
    pub branch: String,
    pub tag: String,
    pub short_commit: String,
    pub full_commit: String,
    /// Unix seconds of the commit; `None` outside a repository.
    pub commit_time: Option<i64>,
    pub dirty: bool,
}

/// Go's zero `time.Time` in Unix seconds: `.Git.CommitTimestamp` outside a repository.
const GO_ZERO_TIME: i64 = -62_135_596_800;

impl GitInfo {
    /// Asks git about the repository holding `dir`, with ko's commands.
    /// Outside a repository (or without git) every field is empty; in one
    /// with no tag, the tag is `v0.0.0`; as in ko.
    pub fn read(dir: &Path) -> GitInfo {
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .args(["-c", "log.showSignature=false"])
                .args(args)
                .current_dir(dir)
                .output()
                .ok()
                .filter(|o| o.status.success())?;
            let text = String::from_utf8_lossy(&out.stdout);
            // ko's `clean`: the first line, without quotes.
            Some(text.lines().next().unwrap_or("").replace('\'', ""))
        };
        let read = || -> Option<GitInfo> {
            if git(&["rev-parse", "--is-inside-work-tree"])?.trim() != "true" {
                return None;
            }
            let branch = git(&["rev-parse", "--abbrev-ref", "HEAD", "--quiet"])?;
            let short_commit = git(&["show", "--format=%h", "HEAD", "--quiet"])?;
            let full_commit = git(&["show", "--format=%H", "HEAD", "--quiet"])?;
            let time = git(&["show", "--format=%ct", "HEAD", "--quiet"])?;
            let dirty = git(&["status", "--porcelain"]).is_none_or(|s| !s.trim().is_empty());
            let tag = git(&["describe", "--tags", "--abbrev=0", "HEAD"])
                .map(|t| t.trim().to_string())
                .unwrap_or_else(|| "v0.0.0".to_string());
            Some(GitInfo {
                branch,
                tag,
                short_commit,
                full_commit,
                commit_time: Some(time.trim().parse().ok()?),
                dirty,
            })
        };
        read().unwrap_or_default()
    }

    /// ko's `Info.TemplateValue`.
    pub fn value(&self) -> Value {
        let (date, timestamp) = match self.commit_time {
            Some(t) => (rfc3339(t.max(0) as u64), t),
            None => ("0001-01-01T00:00:00Z".to_string(), GO_ZERO_TIME),
        };
        let text = |s: &str| Value::Str(s.to_string());
        Value::Map(Map::values([
            ("Branch", text(&self.branch)),
            ("Tag", text(&self.tag)),
            ("ShortCommit", text(&self.short_commit)),
            ("FullCommit", text(&self.full_commit)),
            ("CommitDate", Value::Str(date)),
            ("CommitTimestamp", Value::Int(timestamp)),
            ("IsDirty", Value::Bool(self.dirty)),
            ("IsClean", Value::Bool(!self.dirty)),
            (
                "TreeState",
                text(if self.dirty { "dirty" } else { "clean" }),
            ),
        ]))
    }
}

/// Which costly parts of the data some templates read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub git: bool,
    pub go_env: bool,
}

impl Needs {
    pub fn of<'a>(templates: impl IntoIterator<Item = &'a Template>) -> Needs {
        templates
            .into_iter()
            .fold(Needs::default(), |needs, t| Needs {
                git: needs.git || t.reads("Git"),
                go_env: needs.go_env || t.reads("GoEnv"),
            })
    }
}

/// Template data for one run of `rko build`, from the values the command
/// line gathered (the process environment, the `go` command, the working
/// directory, the build time); `go env` is asked once and each
/// repository once, only when a template reads them.
#[derive(Debug)]
pub struct Templating {
    env: BTreeMap<String, String>,
    go: PathBuf,
    work_dir: PathBuf,
    time: u64,
    go_env: OnceLock<std::result::Result<BTreeMap<String, String>, String>>,
    git: Mutex<BTreeMap<PathBuf, GitInfo>>,
}

impl Templating {
    /// `time` is `SOURCE_DATE_EPOCH`, else now: `.Date` and `.Timestamp`.
    pub fn new(env: BTreeMap<String, String>, go: PathBuf, work_dir: PathBuf, time: u64) -> Self {
        Templating {
            env,
            go,
            work_dir,
            time,
            go_env: OnceLock::new(),
            git: Mutex::new(BTreeMap::new()),
        }
    }

    /// The data with `env` as `.Env`; `.GoEnv` is `go env` with `.Env`'s
    /// value for every variable both have (as ko overrides it), `.Git` the
    /// state of the repository holding `dir`.
    pub fn data(
        &self,
        env: BTreeMap<String, String>,
        dir: &Path,
        needs: Needs,
    ) -> Result<TemplateData> {
        let mut go_env = BTreeMap::new();
        if needs.go_env {
            go_env = self
                .go_env
                .get_or_init(|| go_env_json(&self.go, &self.work_dir).map_err(|e| e.to_string()))
                .clone()
                .map_err(|e| Error::tool(format!("{} env -json", self.go.display()), e))?;
            for (key, value) in go_env.iter_mut() {
                if let Some(set) = env.get(key) {
                    value.clone_from(set);
                }
            }
        }
        let git = if needs.git {
            let mut known = crate::parallel::lock(&self.git);
            known
                .entry(dir.to_path_buf())
                .or_insert_with(|| GitInfo::read(dir))
                .clone()
        } else {
            GitInfo::default()
        };
        Ok(TemplateData {
            env,
            go_env,
            git,
            date: rfc3339(self.time),
            timestamp: self.time as i64,
        })
    }

    /// The data `.ko.yaml`'s image settings (rko's own keys) see: the
    /// process environment as `.Env`, the repository holding `dir`.
    pub fn config_data(&self, dir: &Path, needs: Needs) -> Result<TemplateData> {
        self.data(self.env.clone(), dir, needs)
    }

    /// ko's `createBuildArgs` for one package and platform: its flags and
    /// ldflags rendered, with `.Env` the build's environment (see
    /// [`build_env`]) and `.Git` the repository `go build` runs in.
    pub fn build_args(
        &self,
        plan: &PackagePlan,
        platform_env: &[(String, String)],
    ) -> Result<(Vec<String>, Vec<String>)> {
        let parse = |values: &[String], origin: &Origin| -> Result<Vec<Template>> {
            values.iter().map(|v| origin.parse(v)).collect()
        };
        let flags = parse(&plan.flags, &plan.flags_from)?;
        let ldflags = parse(&plan.ldflags, &plan.ldflags_from)?;
        let needs = Needs::of(flags.iter().chain(&ldflags));
        let env = build_env(&self.env, platform_env, &plan.env);
        let data = self.data(env, &plan.dir, needs)?.value();
        let render = |templates: &[Template], values: &[String], origin: &Origin| {
            templates
                .iter()
                .zip(values)
                .map(|(t, text)| t.execute(&data).map_err(|e| origin.error(text, e)))
                .collect::<Result<Vec<_>>>()
        };
        Ok((
            render(&flags, &plan.flags, &plan.flags_from)?,
            render(&ldflags, &plan.ldflags, &plan.ldflags_from)?,
        ))
    }
}

/// `.Env` for one build, as ko's `createTemplateData` builds it over
/// `buildEnv`: `LDFLAGS=""` and `CGO_ENABLED=0`, then the process
/// environment, then the platform's GOOS/GOARCH/GOARM/GOAMD64, then the
/// build's own env, a later value winning. (ko puts the platform before
/// the process environment, but refuses a GOOS/GOARCH that disagrees with
/// the platform; here `.Env.GOARCH` is always the GOARCH built for.)
pub fn build_env(
    process: &BTreeMap<String, String>,
    platform_env: &[(String, String)],
    build: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("LDFLAGS".to_string(), String::new()),
        ("CGO_ENABLED".to_string(), "0".to_string()),
    ]);
    env.extend(process.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(platform_env.iter().cloned());
    env.extend(build.iter().cloned());
    env
}

/// `go env -json`, run in `dir` with the process environment.
fn go_env_json(go: &Path, dir: &Path) -> Result<BTreeMap<String, String>> {
    let what = || format!("{} env -json", go.display());
    let out = Command::new(go)
        .args(["env", "-json"])
        .current_dir(dir)
        .output()
        .map_err(|e| Error::tool(what(), format!("cannot run: {e}")))?;
    if !out.status.success() {
        return Err(Error::tool(
            what(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::tool(what(), format!("unreadable output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ko's pkg/build/gobuild.go `createTemplateData` (LDFLAGS="") over
    /// `buildEnv` (CGO_ENABLED=0, GOOS, GOARCH, the process's, the build's).
    #[test]
    fn the_build_env_is_kos_with_the_platform_built_for() {
        let process = BTreeMap::from([
            ("GOARCH".to_string(), "amd64".to_string()),
            ("VERSION".to_string(), "1".to_string()),
            ("LDFLAGS".to_string(), "-s".to_string()),
        ]);
        let platform = [
            ("GOOS".to_string(), "linux".to_string()),
            ("GOARCH".to_string(), "arm64".to_string()),
        ];
        let build = [("VERSION".to_string(), "2".to_string())];
        let env = build_env(&process, &platform, &build);
        let get = |k: &str| env.get(k).map(String::as_str);
        let cases = [
            ("LDFLAGS", Some("-s")),
            ("CGO_ENABLED", Some("0")),
            ("GOOS", Some("linux")),
            ("GOARCH", Some("arm64")),
            ("VERSION", Some("2")),
            ("GOARM", None),
        ];
        for (key, want) in cases {
            assert_eq!(get(key), want, "{key}");
        }
    }

    /// ko's pkg/internal/git/info.go `TemplateValue` of the zero `Info`
    /// that `GetInfo` returns outside a repository.
    #[test]
    fn git_outside_a_repository_is_kos_zero_info() {
        let git = GitInfo::default().value();
        let Value::Map(map) = git else { panic!() };
        let cases = [
            ("CommitDate", Value::Str("0001-01-01T00:00:00Z".into())),
            ("CommitTimestamp", Value::Int(-62_135_596_800)),
            ("Tag", Value::Str(String::new())),
            ("IsClean", Value::Bool(true)),
            ("IsDirty", Value::Bool(false)),
            ("TreeState", Value::Str("clean".into())),
        ];
        for (key, want) in cases {
            assert_eq!(map.entries[key], want, "{key}");
        }
    }

    /// ko's pkg/internal/git/info.go `GetInfo`, against a real repository:
    /// no tag reads as `v0.0.0`; an untracked file makes the tree dirty.
    #[test]
    fn git_info_is_read_as_ko_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .current_dir(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .status()
                .expect("git is installed (scripts/test installs it)")
                .success();
            assert!(ok, "git {args:?}");
        };
        assert_eq!(
            GitInfo::read(dir.path()),
            GitInfo::default(),
            "not a repository"
        );
        git(&["init", "-q", "-b", "trunk"]);
        std::fs::write(dir.path().join("a"), "a").unwrap();
        git(&["add", "a"]);
        git(&["commit", "-q", "-m", "a", "--date=@1700000000"]);
        let info = GitInfo::read(dir.path());
        assert_eq!(
            (info.branch.as_str(), info.tag.as_str(), info.dirty),
            ("trunk", "v0.0.0", false)
        );
        assert_eq!(info.full_commit.len(), 40);
        assert!(info.full_commit.starts_with(&info.short_commit));
        git(&["tag", "v2.0.0"]);
        std::fs::write(dir.path().join("b"), "b").unwrap();
        let info = GitInfo::read(dir.path());
        assert_eq!((info.tag.as_str(), info.dirty), ("v2.0.0", true));
    }
}
