//! The go command itself: which `go` runs, the environment it inherits,
//! which file names it reads as sources, and its failures in words.

use crate::error::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether a variable of the environment `go` inherits is an input of a
/// build rko fingerprints: one the go command reads (`go help
/// environment`): `GO*` but `GOTMPDIR` (a scratch directory), `CGO_*`, the
/// C toolchain it hands to cgo, git's (it asks git for the VCS stamp), and
/// where its own settings file is (`HOME`, `XDG_CONFIG_HOME`). Nothing
/// else: CI systems set variables that change on every run (run ids,
/// times, tokens), and a build that could read anything (a package with
/// cgo files) is never fingerprinted. `.ko.yaml`'s templates and `env`
/// reach the binary's settings through what they render.
pub fn inherited_input(name: &str) -> bool {
    const READ_BY_GO: [&str; 8] = [
        "AR",
        "CC",
        "CXX",
        "FC",
        "PKG_CONFIG",
        "GCCGO",
        "HOME",
        "XDG_CONFIG_HOME",
    ];
    const PREFIXES: [&str; 3] = ["GO", "CGO_", "GIT_"];
    name != "GOTMPDIR"
        && (READ_BY_GO.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// The environment `go` sees: the process's, then `overrides` in order
/// (a later value winning, as `Command::env` applies them).
pub fn go_env(
    process: &BTreeMap<String, String>,
    overrides: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env = process.clone();
    env.extend(overrides.iter().cloned());
    env
}

/// The `go` command's file: `go` as given when it has a `/` (relative to
/// `work_dir`), else the first executable of that name on `PATH`.
pub fn resolve_go(go: &Path, env: &BTreeMap<String, String>, work_dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if go.components().count() > 1 || go.is_absolute() {
        return Some(work_dir.join(go));
    }
    let path = env.get("PATH")?;
    std::env::split_paths(path)
        .map(|dir| work_dir.join(dir).join(go))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether go/build reads the file `name` when it loads a package: a name
/// not starting with `.` or `_` and with a source extension (go/build
/// `matchFile`, `fileListForExt`). Test files count: a broken one fails
/// the build, and one a build constraint leaves out today may be let in.
pub fn source_file(name: &str) -> bool {
    const EXTENSIONS: [&str; 20] = [
        "go", "c", "cc", "cpp", "cxx", "m", "h", "hh", "hpp", "hxx", "f", "F", "for", "f90", "s",
        "S", "sx", "swig", "swigcxx", "syso",
    ];
    !name.starts_with(['.', '_'])
        && name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext))
}

/// Go's message in one line: its first line and the indented lines that
/// continue it ("no required module provides package P; to add it:" then
/// "\tgo get P"), so that it never stops mid-sentence.
pub fn go_message(text: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let Some(first) = lines.next() else {
        return "failed".to_string();
    };
    let mut message = first.trim().to_string();
    for line in lines.take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
        message.push(' ');
        message.push_str(line.trim());
    }
    message
}

pub fn missing_go(go: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::tool(
            go.display().to_string(),
            "cannot run: Go is not installed or not on PATH (install Go, or set KO_GO_PATH to the go binary)",
        )
    } else {
        Error::tool(go.display().to_string(), format!("cannot run: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_messages_are_whole_and_on_one_line() {
        let cases = [
            (
                "no required module provides package example.com/x; to add it:\n\tgo get example.com/x",
                "no required module provides package example.com/x; to add it: go get example.com/x",
            ),
            (
                "\ngo: go.mod file not found in current directory or any parent directory; see 'go help modules'\n",
                "go: go.mod file not found in current directory or any parent directory; see 'go help modules'",
            ),
            ("stat /m/cmd/nothere: directory not found", "stat /m/cmd/nothere: directory not found"),
            ("first error\nsecond error\n\tits detail", "first error"),
            ("", "failed"),
        ];
        for (text, expected) in cases {
            assert_eq!(go_message(text), expected, "{text:?}");
        }
    }

    /// go/build's `matchFile` and `fileListForExt` (Go 1.23).
    #[test]
    fn source_files_are_the_ones_go_build_reads() {
        let cases = [
            ("main.go", true),
            ("main_test.go", true),
            ("asm_amd64.s", true),
            ("gcc.S", true),
            ("x.sx", true),
            ("lib.c", true),
            ("lib.hpp", true),
            ("rsrc.syso", true),
            ("f.f90", true),
            ("iface.swigcxx", true),
            ("_skip.go", false),
            (".#main.go", false),
            ("README.md", false),
            ("go.mod", false),
            ("main.go~", false),
            ("main.go.swp", false),
            ("Makefile", false),
        ];
        for (name, want) in cases {
            assert_eq!(source_file(name), want, "{name}");
        }
    }

    #[test]
    fn only_what_the_go_command_reads_is_an_input() {
        let cases = [
            ("GOFLAGS", true),
            ("GOEXPERIMENT", true),
            ("GOAMD64", true),
            ("GOTOOLCHAIN", true),
            ("CGO_ENABLED", true),
            ("CGO_CFLAGS", true),
            ("CC", true),
            ("PKG_CONFIG", true),
            ("GIT_DIR", true),
            ("HOME", true),
            ("XDG_CONFIG_HOME", true),
            ("GOTMPDIR", false),
            ("PATH", false),
            ("SOURCE_DATE_EPOCH", false),
            ("CI_RUN_ID", false),
            ("GITHUB_RUN_ID", false),
            ("BUILD_NUMBER", false),
            ("SOME_WRAPPER_SETTING", false),
            ("PWD", false),
            ("SSH_TTY", false),
            ("KO_DOCKER_REPO", false),
            ("KOCACHE", false),
            ("DOCKER_CONFIG", false),
            ("GITHUB_TOKEN", false),
            ("KO_GO_PATH", false),
        ];
        for (name, want) in cases {
            assert_eq!(inherited_input(name), want, "{name}");
        }
    }
}
