//! ko parity for the commands around building (issue 12, item 11): `version`
//! and `completion`, as ko's pkg/commands/version.go and completion.go have them.

use crate::util::*;
use std::process::Command;

/// ko's `version` prints the version alone (pkg/commands/version.go: `fmt.Println(version)`).
#[test]
fn version_prints_the_version_alone_as_ko_does() {
    let out = run_ok(rko().arg("version"));
    assert_eq!(out, format!("{}\n", env!("CARGO_PKG_VERSION")));
}

/// ko's `completion` writes a script for the shell named
/// (pkg/commands/completion.go); each must be one its shell reads.
#[test]
fn completion_scripts_are_written_for_bash_zsh_and_fish() {
    let dir = temp_dir();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rko"),
        ("fish", "complete -c rko"),
    ] {
        let script = run_ok(rko().args(["completion", shell]));
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(
            script.contains("resolve-yaml") && script.contains("assemble-layer"),
            "{shell}"
        );
        if shell == "bash" {
            let path = dir.path().join("rko.bash");
            std::fs::write(&path, &script).unwrap();
            run_ok(Command::new("bash").arg("-n").arg(&path));
        }
    }
    let err = run_err(rko().args(["completion", "tcsh"]));
    assert!(err.contains("tcsh"), "{err}");
}

/// A registry whose host name does not resolve is said to be so; ko's
/// advice to pass `--insecure-registry` would not help (issue 12, item 18).
#[test]
fn a_registry_host_that_cannot_be_resolved_is_named_so_without_insecure_advice() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    let err = run_err(
        rko()
            .args(["pull", "no-such-host.invalid/app:1", "--out"])
            .arg(&out),
    );
    assert!(
        err.contains("no-such-host.invalid") && err.contains("cannot be resolved"),
        "{err}"
    );
    assert!(!err.contains("--insecure-registry"), "{err}");
    assert!(!out.exists());
}

/// ko's users expect man pages (issue 12, item 11; ko generates its
/// reference with cobra's doc generator, cmd/help/main.go). `rko man DIR`
/// writes one page per command from the same clap definitions the binary
/// parses, so they cannot drift; each must be one `man` renders.
#[test]
fn man_pages_are_written_for_rko_and_every_subcommand() {
    let dir = temp_dir();
    let out = dir.path().join("man");
    run_ok(rko().arg("man").arg(&out));
    for page in [
        "rko.1",
        "rko-build.1",
        "rko-assemble-layer.1",
        "rko-resolve-yaml.1",
    ] {
        let path = out.join(page);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with(".ie"), "{page}: {text:.80}");
        let rendered = run_ok(
            Command::new(require("man"))
                .args(["--local-file", "--no-hyphenation"])
                .arg(&path)
                .env("MANWIDTH", "100"),
        );
        let title = format!("{}(1)", page.trim_end_matches(".1"));
        assert!(rendered.contains(&title), "{page}: {rendered:.300}");
    }
    let build = std::fs::read_to_string(out.join("rko-build.1")).unwrap();
    assert!(build.contains("image\\-label"), "flags are documented");
    assert!(
        !out.join("rko-help.1").exists(),
        "clap's help is no command"
    );
    let again = dir.path().join("again");
    run_ok(rko().arg("man").arg(&again));
    assert_eq!(
        snapshot(&out),
        snapshot(&again),
        "the same pages every time"
    );
}

/// Issue 20, item 10: a reader that has gone (`rko completion bash | head
/// -1`) ends a command quietly, as it ends ko (killed by SIGPIPE) and
/// ripgrep (exit 0): no panic, no message, success.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = temp_dir();
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    // "someone:secret"
    std::fs::write(
        docker.join("config.json"),
        r#"{"auths": {"r.example": {"auth": "c29tZW9uZTpzZWNyZXQ="}}}"#,
    )
    .unwrap();
    let commands: [&[&str]; 5] = [
        &["version"],
        &["completion", "bash"],
        &["completion", "zsh"],
        &["name", "--repository", "r.example/me", "./cmd/a", "./cmd/b"],
        &["auth", "get", "r.example"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = rko_in(&docker)
            .args(args)
            .env("KOCACHE", dir.path().join("kocache"))
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "rko {args:?} into a closed pipe: {}\n{stderr}",
            out.status
        );
    }
}

/// ko's hidden `auth` group (crane's): `auth login` saves the credentials
/// without asking the registry, `auth get` answers as a docker credential
/// helper, `auth logout` forgets them; nothing but `get` prints on stdout.
#[test]
fn auth_login_get_and_logout_are_spelled_as_ko_spells_them() {
    let dir = temp_dir();
    let docker = dir.path().join("docker");
    // Nothing listens on port 9: the login is saved, not tried.
    let registry = "127.0.0.1:9";
    let out =
        run_ok(rko_in(&docker).args(["auth", "login", registry, "-u", "someone", "-p", "secret"]));
    assert_eq!(out, "");
    let config = std::fs::read_to_string(docker.join("config.json")).unwrap();
    assert_eq!(
        config,
        "{\n\t\"auths\": {\n\t\t\"127.0.0.1:9\": {\n\t\t\t\"auth\": \"c29tZW9uZTpzZWNyZXQ=\"\n\t\t}\n\t}\n}"
    );
    let got = run_ok(rko_in(&docker).args(["auth", "get", registry]));
    assert_eq!(got, "{\"Username\":\"someone\",\"Secret\":\"secret\"}\n");
    // The registry on standard input, as docker asks a helper.
    let mut get = rko_in(&docker);
    get.args(["auth", "get"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = get.spawn().unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{registry}\n").as_bytes(),
    )
    .unwrap();
    let got = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "{\"Username\":\"someone\",\"Secret\":\"secret\"}\n"
    );

    let out = run_ok(rko_in(&docker).args(["auth", "logout", registry]));
    assert_eq!(out, "");
    let missing = rko_in(&docker)
        .args(["auth", "get", registry])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stdout),
        "credentials not found in native keychain\n"
    );
    // --password-stdin loses one line end, as crane's does.
    let mut login = rko_in(&docker);
    login
        .args([
            "auth",
            "login",
            registry,
            "-u",
            "someone",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"two\nlines\n").unwrap();
    assert!(child.wait().unwrap().success());
    let got = run_ok(rko_in(&docker).args(["auth", "get", registry]));
    assert_eq!(
        got,
        "{\"Username\":\"someone\",\"Secret\":\"two\\nlines\"}\n"
    );
    // Neither a user nor a password is an error that says so.
    let empty = rko_in(&docker)
        .args(["auth", "login", registry])
        .output()
        .unwrap();
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("username and password required"));
}
