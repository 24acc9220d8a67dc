//! What one `go build` reads, found once with `go list -deps` and then
//! without asking Go again: every package directory's source files and
//! embedded trees, each module's go.mod, the main modules' go.sum and
//! vendor/modules.txt, go.work, the toolchain, `go env -w`'s file, the
//! repository whose state Go stamps into the binary, and the settings
//! (import path, platform, directory, arguments, environment) as one
//! digest. [`crate::porcelain::go::fingerprint`] records them and tells whether they hold.
//!
//! Some builds read what rko cannot enumerate (cgo's C toolchain and system
//! headers, `-overlay` files, a VCS other than git): those are never
//! fingerprinted, so `go build` always runs for them.

use super::command::{self, GoBuild};
use super::env::inherited_input;
use super::input_set::{DirKind, Inputs};
use super::vcs;
use crate::digest;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped whenever what rko records changes: older records then never hold.
pub const FORMAT: u32 = 3;

/// A package as `go list -deps -json` describes it: where its files are.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dep {
    #[serde(default)]
    import_path: String,
    #[serde(default)]
    dir: PathBuf,
    #[serde(default)]
    standard: bool,
    root: Option<PathBuf>,
    module: Option<DepModule>,
    #[serde(default)]
    embed_patterns: Vec<String>,
    #[serde(default)]
    cgo_files: Vec<String>,
    #[serde(default)]
    swig_files: Vec<String>,
    #[serde(default, rename = "SwigCXXFiles")]
    swig_cxx_files: Vec<String>,
    #[serde(default)]
    deps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DepModule {
    dir: Option<PathBuf>,
    go_mod: Option<PathBuf>,
    #[serde(default)]
    main: bool,
}

const LIST_FIELDS: &str =
    "ImportPath,Dir,Standard,Root,Module,EmbedPatterns,CgoFiles,SwigFiles,SwigCXXFiles,Deps";

/// `go list -deps` of `b`'s import paths with `b`'s arguments and
/// environment, so that it sees the files `go build` will: by import path.
pub fn list_deps(b: &GoBuild) -> Result<BTreeMap<String, Dep>> {
    let mut args = vec![
        "list".to_string(),
        "-deps".to_string(),
        format!("-json={LIST_FIELDS}"),
    ];
    args.extend(command::build_args(b));
    args.extend(b.import_paths.iter().cloned());
    let what = format!("go list -deps {}", b.import_paths.join(" "));
    let output = command::command(b)?
        .args(&args)
        .output()
        .map_err(|e| Error::tool(&what, e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::tool(what, stderr.trim().to_string()));
    }
    serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Dep>()
        .map(|dep| {
            dep.map(|d| (d.import_path.clone(), d))
                .map_err(|e| Error::tool(&what, format!("unexpected output ({e})")))
        })
        .collect()
}

/// What all the binaries of one `go build` share.
#[derive(Debug, Clone, Copy)]
pub struct Shared<'a> {
    /// The `go` command as found (see [`resolve_go`]).
    pub go: &'a Path,
    /// Where `go build` runs.
    pub dir: &'a Path,
    /// The environment `go` sees.
    pub env: &'a BTreeMap<String, String>,
    /// The arguments before the import paths (see [`command::build_args`]).
    pub args: &'a [String],
}

/// The inputs of `main`'s binary from the packages `go list -deps` gave,
/// or why rko cannot know them all.
pub fn of_binary(
    shared: Shared,
    main: &str,
    listed: &BTreeMap<String, Dep>,
    settings: String,
) -> std::result::Result<Inputs, String> {
    let goflags = shared.env.get("GOFLAGS").map_or("", String::as_str);
    let flags = BuildFlags::parse(
        goflags
            .split_whitespace()
            .chain(shared.args.iter().map(String::as_str)),
    )?;
    let root = listed
        .get(main)
        .ok_or_else(|| format!("go list -deps did not list {main}"))?;
    let packages: Vec<&Dep> = std::iter::once(root)
        .chain(root.deps.iter().filter_map(|path| listed.get(path)))
        .collect();
    if cgo_enabled(shared.env) {
        if let Some(dep) = packages.iter().find(|d| {
            !(d.cgo_files.is_empty() && d.swig_files.is_empty() && d.swig_cxx_files.is_empty())
        }) {
            return Err(format!(
                "{} uses cgo, whose C toolchain and headers rko cannot fingerprint",
                dep.import_path
            ));
        }
    }
    let mut inputs = Inputs {
        settings,
        ..Inputs::default()
    };
    for dep in &packages {
        package_inputs(dep, &mut inputs);
    }
    inputs.files.insert(root.dir.join("default.pgo"));
    module_root_inputs(shared, &mut inputs);
    toolchain_inputs(shared, &packages, &mut inputs);
    if flags.buildvcs {
        match vcs::root(shared.dir) {
            Some((root, "git")) => inputs.repository = Some(root),
            Some((root, vcs)) => {
                return Err(format!(
                    "{} is a {vcs} repository, whose state rko cannot fingerprint",
                    root.display()
                ))
            }
            None => {}
        }
    }
    Ok(inputs)
}

/// A package's source files, its embedded trees, its module's go.mod (and
/// for a main module its go.sum and vendor/modules.txt), and the go.mod
/// that is not between it and its module's root (one there would make it
/// another module).
fn package_inputs(dep: &Dep, inputs: &mut Inputs) {
    inputs.dirs.insert((dep.dir.clone(), DirKind::Sources));
    for pattern in &dep.embed_patterns {
        inputs
            .dirs
            .insert((dep.dir.join(embed_root(pattern)), DirKind::Tree));
    }
    let Some(module) = &dep.module else { return };
    if let Some(go_mod) = &module.go_mod {
        inputs.files.insert(go_mod.clone());
    }
    if let (true, Some(module_dir)) = (module.main, &module.dir) {
        inputs.files.insert(module_dir.join("go.sum"));
        inputs.files.insert(module_dir.join("vendor/modules.txt"));
        for dir in dep
            .dir
            .ancestors()
            .take_while(|d| d.starts_with(module_dir) && d != module_dir)
        {
            inputs.files.insert(dir.join("go.mod"));
        }
    }
}

/// The go.mod Go finds from where it runs (each directory up to it, so a
/// new one in between is seen) and the go.work it finds or is given.
fn module_root_inputs(shared: Shared, inputs: &mut Inputs) {
    for dir in shared.dir.ancestors() {
        let go_mod = dir.join("go.mod");
        let found = go_mod.is_file();
        inputs.files.insert(go_mod);
        if found {
            break;
        }
    }
    let go_work = match shared.env.get("GOWORK").map(String::as_str) {
        Some("off") => None,
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            let mut found = None;
            for dir in shared.dir.ancestors() {
                let go_work = dir.join("go.work");
                inputs.files.insert(go_work.clone());
                if go_work.is_file() {
                    found = Some(go_work);
                    break;
                }
            }
            found
        }
    };
    if let Some(go_work) = go_work {
        let mut sum = go_work.clone().into_os_string();
        sum.push(".sum");
        inputs.files.insert(sum.into());
        inputs.files.insert(go_work);
    }
}

/// The `go` command, the GOROOT the standard packages came from (its
/// VERSION, go.env, bin/go, every tool under pkg/tool and the assembler
/// headers under pkg/include), and the file `go env -w` writes.
fn toolchain_inputs(shared: Shared, packages: &[&Dep], inputs: &mut Inputs) {
    inputs.files.insert(shared.go.to_path_buf());
    let goroot = packages
        .iter()
        .find(|d| d.standard)
        .and_then(|d| d.root.clone())
        .or_else(|| shared.env.get("GOROOT").map(PathBuf::from));
    if let Some(goroot) = goroot {
        for file in ["VERSION", "go.env", "bin/go"] {
            inputs.files.insert(goroot.join(file));
        }
        for tree in ["pkg/tool", "pkg/include"] {
            inputs.dirs.insert((goroot.join(tree), DirKind::Tree));
        }
    }
    if let Some(file) = goenv_file(shared.env) {
        inputs.files.insert(file);
    }
}

/// Where `go env -w` keeps its settings: `GOENV`, else the user config
/// directory's go/env (os.UserConfigDir: `XDG_CONFIG_HOME`, else
/// `~/.config`); none with `GOENV=off`.
fn goenv_file(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let set = |name: &str| env.get(name).filter(|v| !v.is_empty());
    match set("GOENV").map(String::as_str) {
        Some("off") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => set("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|h| Path::new(h).join(".config")))
            .map(|config| config.join("go/env")),
    }
}

/// The flags (from `GOFLAGS`, then the command line, a later one winning)
/// that change what the fingerprint must hold.
#[derive(Debug, PartialEq, Eq)]
struct BuildFlags {
    /// Whether Go may stamp the repository state (`-buildvcs`, default auto).
    buildvcs: bool,
}

impl BuildFlags {
    /// Refuses the flags that name files rko does not follow.
    fn parse<'a>(args: impl Iterator<Item = &'a str>) -> std::result::Result<Self, String> {
        let mut flags = BuildFlags { buildvcs: true };
        for arg in args {
            let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
                continue;
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (flag, None),
            };
            match (name, value) {
                ("overlay" | "modfile" | "pkgdir", _) => {
                    return Err(format!("-{name} names files rko does not fingerprint"))
                }
                ("pgo", Some("auto" | "off")) => {}
                ("pgo", _) => return Err("-pgo names a profile rko does not fingerprint".into()),
                ("buildvcs", None) => flags.buildvcs = true,
                ("buildvcs", Some(value)) => {
                    flags.buildvcs = !matches!(value, "false" | "0" | "f" | "F" | "FALSE" | "False")
                }
                _ => {}
            }
        }
        Ok(flags)
    }
}

/// Whether cgo may run: `CGO_ENABLED` other than 0 (unset, Go decides).
fn cgo_enabled(env: &BTreeMap<String, String>) -> bool {
    env.get("CGO_ENABLED").map(String::as_str) != Some("0")
}

/// The directory (relative to the package) holding everything an embed
/// pattern can match: its elements before the first with a glob
/// character (`all:` dropped). Walking it finds every file the pattern may
/// take, a file added later too.
pub fn embed_root(pattern: &str) -> PathBuf {
    let pattern = pattern.strip_prefix("all:").unwrap_or(pattern);
    let fixed: Vec<&str> = pattern
        .split('/')
        .take_while(|element| !element.contains(['*', '?', '[', '\\']))
        .collect();
    if fixed.is_empty() {
        PathBuf::from(".")
    } else {
        fixed.iter().collect()
    }
}

/// One binary's settings, a `name<TAB>value` line each: the import path,
/// platform, directory, `go` command, arguments, and every variable of the
/// environment `go` sees that is an input (those `.ko.yaml`'s `env` sets
/// too). Arguments and variables are recorded as digests (they may hold
/// secrets); the lines let `-v` say which one changed ([`changes`]).
pub fn settings(binary: &GoBuild, go: &Path, env: &BTreeMap<String, String>) -> String {
    let hashed = |value: &str| digest::sha256(value.as_bytes()).to_string();
    let mut lines = vec![
        format!("format\t{FORMAT}"),
        format!("import path\t{}", binary.import_paths.join(" ")),
        format!("platform\t{}", binary.platform),
        format!("directory\t{}", binary.dir.display()),
        format!("go command\t{} {}", binary.go.display(), go.display()),
        format!(
            "build arguments\t{}",
            hashed(&command::build_args(binary).join("\0"))
        ),
    ];
    let configured = |key: &str| binary.env.iter().any(|(k, _)| k == key);
    for (key, value) in env
        .iter()
        .filter(|(key, _)| inherited_input(key) || configured(key))
    {
        lines.push(format!("env {key}\t{}", hashed(value)));
    }
    lines.join("\n")
}

/// Whose settings these are: `IMPORT-PATH for PLATFORM`.
pub fn subject(settings: &str) -> String {
    let value = |name: &str| {
        settings
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('\t'))
            .unwrap_or("?")
    };
    format!("{} for {}", value("import path"), value("platform"))
}

/// What differs between the settings a binary was built with and today's,
/// in words: `env GOFLAGS changed, env CGO_ENABLED added`.
pub fn changes(before: &str, now: &str) -> String {
    let parse = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .map(|line| match line.split_once('\t') {
                Some((name, value)) => (name.to_string(), value.to_string()),
                None => (line.to_string(), String::new()),
            })
            .collect()
    };
    let (before, now) = (parse(before), parse(now));
    let mut names: Vec<&String> = before.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    let said: Vec<String> = names
        .into_iter()
        .filter_map(|name| match (before.get(name), now.get(name)) {
            (Some(b), Some(n)) if b != n => Some(format!("{name} changed")),
            (None, Some(_)) => Some(format!("{name} added")),
            (Some(_), None) => Some(format!("{name} removed")),
            _ => None,
        })
        .collect();
    said.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_settings_is_said_line_by_line() {
        let before = "import path\tex.com/a\nplatform\tlinux/amd64\nenv GOFLAGS\tx\nenv GOARM\t7";
        let cases = [
            (before, ""),
            (
                "import path\tex.com/a\nplatform\tlinux/amd64\nenv GOFLAGS\ty\nenv GOARM\t7",
                "env GOFLAGS changed",
            ),
            (
                "import path\tex.com/a\nplatform\tlinux/amd64\nenv CC\tc\nenv GOFLAGS\tx",
                "env CC added, env GOARM removed",
            ),
        ];
        for (now, want) in cases {
            assert_eq!(changes(before, now), want, "{now}");
        }
        assert_eq!(subject(before), "ex.com/a for linux/amd64");
    }

    /// cmd/go/internal/load `resolveEmbed`: patterns are globs relative to
    /// the package; `all:` keeps dot and underscore files.
    #[test]
    fn an_embed_pattern_is_walked_from_its_fixed_prefix() {
        let cases = [
            ("static", "static"),
            ("static/index.html", "static/index.html"),
            ("static/*.html", "static"),
            ("all:static", "static"),
            ("web/[ab]/x", "web"),
            ("*.txt", "."),
            ("a/b?/c", "a"),
        ];
        for (pattern, want) in cases {
            assert_eq!(embed_root(pattern), PathBuf::from(want), "{pattern}");
        }
    }

    /// cmd/go `-buildvcs` (a bool flag that also takes `auto`), and the
    /// flags that name files rko does not follow.
    #[test]
    fn flags_decide_vcs_stamping_and_some_are_never_fingerprinted() {
        let cases: [(&[&str], &str); 9] = [
            (&[], "vcs"),
            (&["-buildvcs=false"], "no vcs"),
            (&["-buildvcs=false", "-buildvcs"], "vcs"),
            (&["--buildvcs=auto"], "vcs"),
            (&["-trimpath", "-tags=netgo", "-ldflags=-s -w"], "vcs"),
            (&["-overlay=o.json"], "error: -overlay"),
            (&["-modfile", "alt.mod"], "error: -modfile"),
            (&["-pgo=auto", "-pgo=off"], "vcs"),
            (&["-pgo=cpu.pprof"], "error: -pgo"),
        ];
        for (args, want) in cases {
            let got = match BuildFlags::parse(args.iter().copied()) {
                Ok(BuildFlags { buildvcs: true }) => "vcs".to_string(),
                Ok(_) => "no vcs".to_string(),
                Err(e) => format!("error: {e}"),
            };
            assert!(got.starts_with(want), "{args:?}: {got}");
        }
    }

    #[test]
    fn goenv_is_found_where_go_env_w_writes_it() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases = [
            (env(&[("HOME", "/h")]), Some("/h/.config/go/env")),
            (
                env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]),
                Some("/x/go/env"),
            ),
            (env(&[("HOME", "/h"), ("GOENV", "/g/env")]), Some("/g/env")),
            (env(&[("HOME", "/h"), ("GOENV", "off")]), None),
            (env(&[]), None),
        ];
        for (env, want) in cases {
            assert_eq!(goenv_file(&env), want.map(PathBuf::from), "{env:?}");
        }
    }
}
