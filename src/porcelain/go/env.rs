//! The go command itself: which `go` runs, the environment it inherits,
//! which file names it reads as sources, and its failures in words.

use crate::error::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether a variable of the environment `go` inherits is an input: all
/// are (ko's `buildEnv` passes the whole environment, and a `go` wrapper
/// or cgo's compiler may read any), but for those of the terminal and the
/// session, which differ between shells and tell Go nothing, and ko's and
/// rko's own, which are about publishing.
pub fn inherited_input(name: &str) -> bool {
    const NOT_INPUTS: [&str; 38] = [
        "_",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "TERM",
        "COLORTERM",
        "COLUMNS",
        "LINES",
        "DISPLAY",
        "WINDOWID",
        "XAUTHORITY",
        "WAYLAND_DISPLAY",
        "DBUS_SESSION_BUS_ADDRESS",
        "MAIL",
        "LS_COLORS",
        "PS1",
        "PS2",
        "PROMPT_COMMAND",
        "HISTFILE",
        "HISTSIZE",
        "INVOCATION_ID",
        "JOURNAL_STREAM",
        "TMUX",
        "TMUX_PANE",
        "STY",
        "NO_COLOR",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "GOTMPDIR",
        "KOCACHE",
        "KO_DOCKER_REPO",
        "KO_DEFAULTBASEIMAGE",
        "KO_DEFAULTPLATFORMS",
        "KO_CONFIG_PATH",
        "KO_DATA_DATE_EPOCH",
        "KO_DATA_PATH_ALLOWED_ROOT",
        "KIND_CLUSTER_NAME",
        "KO_GO_PATH",
    ];
    const NOT_INPUT_PREFIXES: [&str; 6] = [
        "SSH_",
        "XDG_SESSION_",
        "TERM_",
        "DOCKER_",
        "REGISTRY_AUTH",
        "GITHUB_TOKEN",
    ];
    !NOT_INPUTS.contains(&name) && !NOT_INPUT_PREFIXES.iter().any(|p| name.starts_with(p))
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
    fn only_the_terminal_session_and_publishing_variables_are_not_inputs() {
        let cases = [
            ("GOFLAGS", true),
            ("CGO_ENABLED", true),
            ("CC", true),
            ("PATH", true),
            ("HOME", true),
            ("GOEXPERIMENT", true),
            ("SOURCE_DATE_EPOCH", true),
            ("SOME_WRAPPER_SETTING", true),
            ("GOTMPDIR", false),
            ("PWD", false),
            ("SSH_TTY", false),
            ("TERM_PROGRAM", false),
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
