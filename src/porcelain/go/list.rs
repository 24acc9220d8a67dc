//! `go list`: which main package an import path or directory names, and
//! its answer remembered while the package's files and go.mod are unchanged.

use super::env::{go_message, inherited_input, missing_go, resolve_go, source_file};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A main package, as `go list` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub import_path: String,
    pub dir: PathBuf,
    pub module_path: String,
    pub module_dir: PathBuf,
}

impl Package {
    /// The binary's name: the import path's last element, as ko names it.
    pub fn binary_name(&self) -> String {
        self.import_path
            .rsplit('/')
            .next()
            .unwrap_or(&self.import_path)
            .to_string()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    #[serde(default)]
    import_path: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    dir: PathBuf,
    module: Option<ListedModule>,
    error: Option<ListedError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedModule {
    path: String,
    dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedError {
    err: String,
}

/// Like [`list`], remembering the answer in `cache_dir` for as long as
/// what decides it is unchanged, by content rather than by mtime: the `go`
/// command, the environment it inherits, the go.mod, go.work and
/// vendor/modules.txt Go finds from `dir`, the go.mod files between the
/// package and its module's root, and the package clause of each Go file
/// in the package's directory. A no-op rebuild, an editor saving by rename
/// (a new directory mtime) and an edit below the package clause all skip
/// `go list`.
pub fn list_cached(
    go: &Path,
    env: &BTreeMap<String, String>,
    dir: &Path,
    target: &str,
    cache_dir: &Path,
) -> Result<Package> {
    let entry = |target: &str| {
        let target = target.strip_prefix("ko://").unwrap_or(target);
        let key = crate::porcelain::cache::key(&[
            &go.display().to_string(),
            &dir.display().to_string(),
            target,
        ]);
        cache_dir.join(format!("{key}.json"))
    };
    let answer_key = |package: &Package| list_key(go, env, dir, package);
    if let Ok(text) = std::fs::read_to_string(entry(target)) {
        let cached: Option<CachedList> = serde_json::from_str(&text).ok();
        if let Some(cached) = cached {
            let package = Package {
                import_path: cached.import_path,
                dir: cached.package_dir,
                module_path: cached.module_path,
                module_dir: cached.module_dir,
            };
            if cached.key == answer_key(&package) {
                return Ok(package);
            }
        }
    }
    // What decides the answer, read before `go list` reads it: a change
    // made meanwhile shows at the next run.
    let package = list(go, dir, target)?;
    let cached = CachedList {
        key: answer_key(&package),
        import_path: package.import_path.clone(),
        package_dir: package.dir.clone(),
        module_path: package.module_path.clone(),
        module_dir: package.module_dir.clone(),
    };
    // Remembered for the import path too, as `rko resolve` names it
    // (`ko://IMPORT_PATH`) after `rko build ./cmd/app`. A cache that cannot
    // be written only costs the next run a `go list`.
    let bytes = serde_json::to_vec(&cached).expect("serializes");
    for target in [target, &package.import_path] {
        let _ = crate::atomic::write_file(&entry(target), &bytes);
    }
    Ok(package)
}

#[derive(serde::Serialize, Deserialize)]
struct CachedList {
    key: String,
    import_path: String,
    package_dir: PathBuf,
    module_path: String,
    module_dir: PathBuf,
}

/// A digest of what decides `go list`'s answer `package` for a target
/// looked up from `dir` (see [`list_cached`]).
fn list_key(go: &Path, env: &BTreeMap<String, String>, dir: &Path, package: &Package) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut text = String::from("rko go list 1\n");
    let go = resolve_go(go, env, dir).unwrap_or_else(|| go.to_path_buf());
    let meta = std::fs::metadata(&go).ok();
    let go_stamp = meta.map(|m| (m.size(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ino()));
    text.push_str(&format!("go {} {go_stamp:?}\n", go.display()));
    for (key, value) in env.iter().filter(|(key, _)| inherited_input(key)) {
        text.push_str(&format!("env {key}={value}\0"));
    }
    let content = |path: &Path| match std::fs::read(path) {
        Ok(bytes) => format!("{} {}\n", path.display(), crate::digest::sha256(&bytes)),
        Err(_) => format!("{} missing\n", path.display()),
    };
    let mut found_mod = false;
    let mut found_work = false;
    for ancestor in dir.ancestors() {
        for (name, found) in [("go.mod", &mut found_mod), ("go.work", &mut found_work)] {
            if !*found {
                let path = ancestor.join(name);
                text.push_str(&content(&path));
                *found = path.is_file();
                if name == "go.mod" && *found {
                    text.push_str(&content(&ancestor.join("vendor/modules.txt")));
                }
            }
        }
    }
    for ancestor in package.dir.ancestors() {
        text.push_str(&content(&ancestor.join("go.mod")));
        if ancestor == package.module_dir || !ancestor.starts_with(&package.module_dir) {
            break;
        }
    }
    text.push_str(&package_clauses(&package.dir));
    crate::digest::sha256(text.as_bytes()).to_string()
}

/// Each Go file of `dir` with the package it declares, one a line.
fn package_clauses(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".go") && source_file(name))
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let head = read_head(&dir.join(&name));
        let clause = package_clause(&head).unwrap_or("?");
        text.push_str(&format!("{name} {clause}\n"));
    }
    text
}

/// The first 64 KiB of a file (where a package clause is), as text.
fn read_head(path: &Path) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(64 * 1024).read_to_end(&mut head);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The package a Go file declares: the identifier after `package`, once a
/// byte order mark, comments and blank lines are skipped.
fn package_clause(text: &str) -> Option<&str> {
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/")?.1;
        } else {
            break;
        }
    }
    let after = rest.strip_prefix("package")?;
    if !after.starts_with(char::is_whitespace) {
        return None;
    }
    let name = after
        .trim_start()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then_some(name)
}

/// Resolves `target` (`./cmd/app`, `example.com/m/cmd/app`, `hello.go`,
/// with or without `ko://`) from `dir` to a main package.
pub fn list(go: &Path, dir: &Path, target: &str) -> Result<Package> {
    let target = target.strip_prefix("ko://").unwrap_or(target);
    // A Go file stands for its package's directory.
    let target = if target.ends_with(".go") {
        match Path::new(target)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
        {
            Some(parent) if !parent.is_empty() => {
                if parent.starts_with('.') || parent.starts_with('/') {
                    parent
                } else {
                    format!("./{parent}")
                }
            }
            _ => ".".to_string(),
        }
    } else {
        target.to_string()
    };
    let output = Command::new(go)
        .args([
            "list",
            "-e",
            "-json=ImportPath,Name,Dir,Module,Error",
            &target,
        ])
        .current_dir(dir)
        .output()
        .map_err(|e| missing_go(go, e))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::tool(
            format!("go list {target}"),
            go_message(&stderr),
        ));
    }
    let listed: Listed = serde_json::from_slice(&output.stdout).map_err(|e| {
        Error::tool(
            format!("go list {target}"),
            format!("unexpected output ({e})"),
        )
    })?;
    if let Some(error) = listed.error {
        return Err(Error::tool(
            format!("go list {target}"),
            go_message(&error.err),
        ));
    }
    if listed.name != "main" {
        return Err(Error::reference(
            target,
            format!(
                "{} is package {}, not a main package: only commands can be built into images",
                listed.import_path, listed.name
            ),
        ));
    }
    let module = listed.module.ok_or_else(|| {
        Error::reference(
            target,
            format!(
                "is not in a Go module (no go.mod above {})",
                listed.dir.display()
            ),
        )
    })?;
    Ok(Package {
        import_path: listed.import_path,
        module_dir: module.dir.unwrap_or_else(|| listed.dir.clone()),
        module_path: module.path,
        dir: listed.dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What go/build reads as a file's package clause (go/build `readGoInfo`):
    /// after comments, before anything else.
    #[test]
    fn the_package_clause_is_read_past_comments() {
        let cases = [
            ("package main\n", Some("main")),
            (
                "// Copyright\n\n//go:build linux\n\npackage main // the command\n",
                Some("main"),
            ),
            ("/* a\n block */ package\tfoo_test\n", Some("foo_test")),
            ("\u{feff}package main", Some("main")),
            ("packagemain\n", None),
            ("func main() {}\npackage main", None),
            ("/* never closed", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(package_clause(text), want, "{text:?}");
        }
    }
}
