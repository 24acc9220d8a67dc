//! `rko build` without `go build` when nothing changed, and one `go build`
//! for many targets (issue 14, items 1 to 3), against real Go on a
//! generated module with a vendored dependency (`-mod=vendor`, chosen by Go
//! itself from vendor/modules.txt), an embedded tree and a file a build
//! constraint leaves out. Every `go` process rko starts goes through a
//! `KO_GO_PATH` wrapper that logs its arguments, so a test sees exactly
//! which `go list` and `go build` ran.
//!
//! ko runs `go build` for every image every time (pkg/build/gobuild.go
//! `build`, once per import path and platform from `buildOne`), into a
//! stable `KOCACHE/bin/IMPORTPATH/PLATFORM/out`, with the process
//! environment under its own (`buildEnv`) and the flags and ldflags of
//! `createBuildArgs`. These tests pin that skipping it never gives an image
//! other than ko's way would: every kind of input, changed, rebuilds.

use crate::util::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A generated module in a fresh directory, a logging `go` wrapper, and
/// rko's state (KOCACHE, HOME) beside them.
struct Project {
    dir: tempfile::TempDir,
    module: PathBuf,
    log: PathBuf,
    wrapper: PathBuf,
}

/// A command's main.go: prints the vendored dependency and the shared package.
fn main_go(extra_imports: &str, extra_body: &str) -> String {
    format!(
        "package main\n\nimport (\n\t\"fmt\"\n{extra_imports}\n\t\"example.com/dep\"\n\t\"example.com/perf/internal/shared\"\n)\n\n\
         var version = \"dev\"\n\nfunc main() {{\n\tfmt.Println(dep.Name(), shared.Word, version)\n{extra_body}}}\n"
    )
}

impl Project {
    /// `example.com/perf` with `cmd/app` (embedding `static/`, and with
    /// `ignored.go` behind `//go:build never`) and one plain command per
    /// name in `others` (a path under the module, e.g. `cmd/two`).
    fn new(others: &[&str]) -> Project {
        let dir = temp_dir();
        let module = dir.path().join("perf");
        let write = |path: &str, text: &str| {
            let path = module.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        };
        write(
            "go.mod",
            "module example.com/perf\n\ngo 1.22\n\nrequire example.com/dep v1.0.0\n",
        );
        write(
            "vendor/modules.txt",
            "# example.com/dep v1.0.0\n## explicit; go 1.22\nexample.com/dep\n",
        );
        write(
            "vendor/example.com/dep/dep.go",
            "package dep\n\nfunc Name() string { return \"dep v1\" }\n",
        );
        write(
            "internal/shared/shared.go",
            "package shared\n\nconst Word = \"shared\"\n",
        );
        write(
            "cmd/app/main.go",
            &main_go(
                "\t\"embed\"\n",
                "\tnames, _ := static.ReadDir(\"static\")\n\tfmt.Println(len(names))\n\tb, _ := static.ReadFile(\"static/index.html\")\n\tfmt.Print(string(b))\n",
            )
            .replace("var version", "//go:embed static\nvar static embed.FS\n\nvar version"),
        );
        write(
            "cmd/app/ignored.go",
            "//go:build never\n\npackage main\n\nfunc init() { println(\"included\") }\n",
        );
        write("cmd/app/static/index.html", "<p>one</p>\n");
        write("cmd/app/static/sub/a.txt", "a\n");
        for other in others {
            write(&format!("{other}/main.go"), &main_go("", ""));
        }
        let log = dir.path().join("go.log");
        let wrapper = dir.path().join("go-wrapper");
        let project = Project {
            dir,
            module,
            log,
            wrapper,
        };
        project.write_wrapper("");
        project
    }

    /// The `go` wrapper: logs each invocation's arguments, then runs the
    /// real Go; `extra` goes before the `exec` (a different toolchain
    /// setting, say).
    fn write_wrapper(&self, extra: &str) {
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n{extra}\nexec '{}' \"$@\"\n",
            self.log.display(),
            require("go").display()
        );
        // Write beside and rename, as an installer would: a shell may be
        // reading the old script.
        let fresh = self.wrapper.with_extension("new");
        fs::write(&fresh, script).unwrap();
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o755)).unwrap();
        fs::rename(&fresh, &self.wrapper).unwrap();
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.module.join(relative)
    }

    /// `rko build --push=false` of `targets` in the module with the wrapper
    /// as `go`, `KOCACHE` under `state`.
    fn command(&self, state: &str, targets: &[&str]) -> Command {
        let state = self.dir.path().join(state);
        fs::create_dir_all(&state).unwrap();
        let mut cmd = porcelain(&state);
        cmd.current_dir(&self.module)
            .env("KO_GO_PATH", &self.wrapper)
            .args(["build", "--push=false"])
            .args(targets);
        cmd
    }

    /// Runs `cmd`; returns the digest printed for each target and the `go`
    /// invocations it made, one line each.
    fn run(&self, cmd: &mut Command) -> (Vec<String>, Vec<String>) {
        let _ = fs::remove_file(&self.log);
        let (stdout, _) = run_ok_with_stderr(cmd);
        let digests = stdout.lines().map(pushed_digest).collect();
        let invocations = fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        (digests, invocations)
    }

    /// `rko build` of `targets` with state `main`.
    fn build(&self, targets: &[&str]) -> (Vec<String>, Vec<String>) {
        self.run(&mut self.command("main", targets))
    }
}

/// The invocations that are `go build`.
fn go_builds(invocations: &[String]) -> Vec<&String> {
    invocations
        .iter()
        .filter(|line| line.starts_with("build "))
        .collect()
}

#[test]
fn a_no_op_build_starts_no_go_process_and_gives_the_same_image() {
    let project = Project::new(&["cmd/two"]);
    let targets = ["./cmd/app", "./cmd/two"];
    let (first, ran) = project.build(&targets);
    assert!(!go_builds(&ran).is_empty(), "{ran:?}");
    let (again, ran) = project.build(&targets);
    assert_eq!(again, first);
    assert_eq!(
        ran,
        Vec::<String>::new(),
        "no go process when nothing changed"
    );
    // The same again through ko:// references, as `rko resolve` gives them.
    let (again, ran) = project.build(&[
        "ko://example.com/perf/cmd/app",
        "ko://example.com/perf/cmd/two",
    ]);
    assert_eq!(again, first);
    assert_eq!(ran, Vec::<String>::new());
}

/// The first build of a module nobody wrote to in the last 2 s runs `go
/// list -deps` beside `go build` and looks at what it names afterwards:
/// the record it leaves holds (a no-op next), and an edit to a package
/// anywhere, vendored or not, still rebuilds.
#[test]
fn a_first_build_of_a_quiet_module_records_inputs_that_hold() {
    let project = Project::new(&[]);
    // Older than fingerprint.rs's RACY_NS.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let targets = ["./cmd/app"];
    let (first, ran) = project.build(&targets);
    assert_eq!(go_builds(&ran).len(), 1, "{ran:?}");
    let (again, ran) = project.build(&targets);
    assert_eq!(
        (&again, ran),
        (&first, vec![]),
        "a no-op after the first build"
    );
    for file in ["vendor/example.com/dep/dep.go", "internal/shared/shared.go"] {
        append(&project.path(file), "\n// edited\n");
        let (_, ran) = project.build(&targets);
        assert_eq!(go_builds(&ran).len(), 1, "{file} edited: {ran:?}");
    }
}

/// One kind of input changed, and whether the binary (so the image) changes.
struct Change {
    what: &'static str,
    apply: fn(&Project),
    /// The image differs (else Go makes the same binary from the changed
    /// input, and only a rebuild is required).
    image_changes: bool,
}

fn append(path: &Path, text: &str) {
    let mut old = fs::read_to_string(path).unwrap();
    old.push_str(text);
    fs::write(path, old).unwrap();
}

/// Writes `text` the way many editors save: to a new file renamed over
/// the old one (a new inode, the directory's mtime changed).
fn save_by_rename(path: &Path, text: &str) {
    let fresh = path.with_extension("swp");
    fs::write(&fresh, text).unwrap();
    fs::rename(&fresh, path).unwrap();
}

/// Changes in the command's directory and its vendored dependency.
fn package_changes() -> Vec<Change> {
    vec![
        Change {
            what: "a Go file in vendor/",
            apply: |p| {
                let path = p.path("vendor/example.com/dep/dep.go");
                let text = fs::read_to_string(&path)
                    .unwrap()
                    .replace("dep v1", "dep v2");
                fs::write(path, text).unwrap();
            },
            image_changes: true,
        },
        Change {
            what: "an embedded file",
            apply: |p| append(&p.path("cmd/app/static/index.html"), "<p>two</p>\n"),
            image_changes: true,
        },
        Change {
            what: "a file added to an embedded subdirectory",
            apply: |p| fs::write(p.path("cmd/app/static/sub/b.txt"), "b\n").unwrap(),
            image_changes: true,
        },
        Change {
            what: "a file added to a new embedded subdirectory",
            apply: |p| {
                fs::create_dir_all(p.path("cmd/app/static/new")).unwrap();
                fs::write(p.path("cmd/app/static/new/c.txt"), "c\n").unwrap();
            },
            image_changes: true,
        },
        Change {
            what: "a Go file added to the package directory",
            apply: |p| {
                fs::write(
                    p.path("cmd/app/added.go"),
                    "package main\n\nfunc init() { version = \"added\" }\n",
                )
                .unwrap()
            },
            image_changes: true,
        },
        Change {
            what: "a file a build constraint left out, now let in",
            apply: |p| {
                let path = p.path("cmd/app/ignored.go");
                let text = fs::read_to_string(&path).unwrap();
                fs::write(path, text.replace("//go:build never\n", "")).unwrap();
            },
            image_changes: true,
        },
    ]
}

/// Changes outside the command's own directory.
fn module_changes() -> Vec<Change> {
    vec![
        Change {
            what: "a shared package, saved by rename",
            apply: |p| {
                let path = p.path("internal/shared/shared.go");
                let text = fs::read_to_string(&path)
                    .unwrap()
                    .replace("shared\"", "common\"");
                save_by_rename(&path, &text);
            },
            image_changes: true,
        },
        Change {
            what: "go.mod",
            apply: |p| {
                let path = p.path("go.mod");
                let text = fs::read_to_string(&path)
                    .unwrap()
                    .replace("go 1.22", "go 1.21");
                fs::write(path, text).unwrap();
            },
            image_changes: true,
        },
        Change {
            what: "go.sum, created (vendor mode reads no sums)",
            apply: |p| fs::write(p.path("go.sum"), "").unwrap(),
            image_changes: false,
        },
        Change {
            what: "the toolchain (a go wrapper reporting another version)",
            apply: |p| {
                p.write_wrapper(
                    "[ \"$1\" = version ] && { echo 'go version go1.99.0 linux/amd64'; exit 0; }",
                )
            },
            image_changes: false,
        },
    ]
}

#[test]
fn every_kind_of_input_changed_rebuilds_and_nothing_else_does() {
    let project = Project::new(&[]);
    let targets = ["./cmd/app"];
    let (mut digest, _) = project.build(&targets);
    for change in package_changes().into_iter().chain(module_changes()) {
        (change.apply)(&project);
        let (now, ran) = project.build(&targets);
        assert_eq!(
            go_builds(&ran).len(),
            1,
            "{}: changed, so go build must run: {ran:?}",
            change.what
        );
        assert_eq!(
            now != digest,
            change.image_changes,
            "{}: the image {} change",
            change.what,
            if change.image_changes {
                "must"
            } else {
                "need not"
            }
        );
        let (again, ran) = project.build(&targets);
        assert_eq!(again, now, "{}", change.what);
        assert_eq!(ran, Vec::<String>::new(), "{}: then a no-op", change.what);
        digest = now;
    }
}

/// A flag or variable given to `rko build`.
struct Input {
    what: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    image_changes: bool,
}

/// What rko passes `go build`, or what `go build` inherits: each change
/// rebuilds, and a flag or variable that changes the binary changes the image.
#[test]
fn flags_ldflags_and_environment_variables_are_inputs() {
    let project = Project::new(&[]);
    fs::write(
        project.path("cmd/app/extra.go"),
        "//go:build extra\n\npackage main\n\nfunc init() { version = \"extra\" }\n",
    )
    .unwrap();
    let build = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = project.command("main", &["./cmd/app"]);
        cmd.args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        project.run(&mut cmd)
    };
    let (plain, _) = build(&[], &[]);
    let cases = [
        Input {
            what: "--ldflags",
            args: &["--ldflags=-X main.version=ld"],
            env: &[],
            image_changes: true,
        },
        Input {
            what: "GOFLAGS",
            args: &[],
            env: &[("GOFLAGS", "-tags=extra")],
            image_changes: true,
        },
        Input {
            what: "CGO_ENABLED (no package uses cgo)",
            args: &[],
            env: &[("CGO_ENABLED", "1")],
            image_changes: true,
        },
        Input {
            what: "--disable-optimizations",
            args: &["--disable-optimizations"],
            env: &[],
            image_changes: true,
        },
        Input {
            what: "GOAMD64 through the platform",
            args: &["--platform=linux/amd64/v3"],
            env: &[],
            image_changes: true,
        },
        Input {
            what: "CC (Go hands it to cgo)",
            args: &[],
            env: &[("CC", "/usr/bin/gcc-for-the-test")],
            image_changes: false,
        },
    ];
    for Input {
        what,
        args,
        env,
        image_changes,
    } in cases
    {
        let (first, ran) = build(args, env);
        assert_eq!(go_builds(&ran).len(), 1, "{what}: {ran:?}");
        assert_eq!(first != plain, image_changes, "{what}");
        let (again, ran) = build(args, env);
        assert_eq!((again, ran), (first, vec![]), "{what}: then a no-op");
    }
    // And back: the first binary's inputs again, so go build runs again.
    let (back, ran) = build(&[], &[]);
    assert_eq!(back, plain);
    assert_eq!(go_builds(&ran).len(), 1, "{ran:?}");
}

/// CI systems set variables that change on every run (run ids, times,
/// tokens): a variable the go command never reads is no input, so the
/// binary is reused with no `go` process; one it reads rebuilds, and `-v`
/// says which and that the binary is built again.
#[test]
fn a_variable_go_never_reads_changes_nothing_and_v_names_one_it_reads() {
    let project = Project::new(&[]);
    let build = |env: &[(&str, &str)]| {
        let mut cmd = project.command("main", &["./cmd/app"]);
        cmd.arg("-v").envs(env.iter().copied());
        let _ = fs::remove_file(&project.log);
        let (stdout, stderr) = run_ok_with_stderr(&mut cmd);
        let ran = fs::read_to_string(&project.log).unwrap_or_default();
        (
            stdout.lines().map(pushed_digest).collect::<Vec<_>>(),
            ran,
            stderr,
        )
    };
    let (plain, _, _) = build(&[]);
    for value in ["1", "2"] {
        let (digests, ran, stderr) = build(&[("CI_RUN_ID", value), ("BUILD_STARTED_AT", value)]);
        assert_eq!(
            (&digests, ran.as_str()),
            (&plain, ""),
            "CI_RUN_ID={value}: {stderr}"
        );
    }
    let (_, ran, stderr) = build(&[("GOFLAGS", "-trimpath")]);
    assert!(
        ran.lines().any(|line| line.starts_with("build ")),
        "GOFLAGS changed and go build did not run: {ran}"
    );
    assert!(
        stderr.contains(
            "example.com/perf/cmd/app for linux/amd64: env GOFLAGS added; building it again"
        ),
        "{stderr}"
    );
    let (_, _, stderr) = build(&[("GOFLAGS", "-trimpath -tags=x")]);
    assert!(
        stderr.contains("env GOFLAGS changed; building it again"),
        "{stderr}"
    );
    let (_, _, stderr) = build(&[("GOFLAGS", "-trimpath -tags=x"), ("GOEXPERIMENT", "")]);
    assert!(stderr.contains("env GOEXPERIMENT added"), "{stderr}");
    let (_, _, stderr) = build(&[]);
    assert!(
        stderr.contains("env GOEXPERIMENT removed, env GOFLAGS removed"),
        "{stderr}"
    );
    let (_, _, stderr) = build(&[]);
    assert!(!stderr.contains("building it again"), "a no-op: {stderr}");
}

/// Go stamps the repository's state into the binary (`vcs.revision`,
/// `vcs.modified`; cmd/go `setBuildInfo`): a commit, or an untracked file
/// anywhere in the work tree, is an input.
#[test]
fn the_repository_state_go_stamps_is_an_input() {
    let project = Project::new(&[]);
    let git = |args: &[&str]| {
        run_ok(
            Command::new(require("git"))
                .current_dir(&project.module)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
                .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z"),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "one"]);
    let targets = ["./cmd/app"];
    let (clean, _) = project.build(&targets);
    let (again, ran) = project.build(&targets);
    assert_eq!((&again, ran), (&clean, vec![]));

    fs::write(project.path("NOTES"), "untracked\n").unwrap();
    let (dirty, ran) = project.build(&targets);
    assert_eq!(go_builds(&ran).len(), 1, "{ran:?}");
    assert_ne!(dirty, clean, "vcs.modified=true");

    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "two"]);
    let (committed, ran) = project.build(&targets);
    assert_eq!(go_builds(&ran).len(), 1, "{ran:?}");
    assert_ne!(committed, clean, "another vcs.revision");
    let (again, ran) = project.build(&targets);
    assert_eq!((again, ran), (committed, vec![]));
}

/// `--verify-cache` runs `go build` even when the inputs match and fails,
/// naming the binary, when Go now makes something else: here a `go`
/// wrapper reads a file rko cannot know about.
#[test]
fn verify_cache_rebuilds_and_fails_naming_a_binary_that_differs() {
    let project = Project::new(&[]);
    let stamp = project.dir.path().join("stamp");
    fs::write(&stamp, "one").unwrap();
    project.write_wrapper(&format!(
        "if [ \"$1\" = build ]; then shift; set -- build \"-ldflags=-X main.version=$(cat '{}')\" \"$@\"; fi",
        stamp.display()
    ));
    let targets = ["./cmd/app"];
    let (first, _) = project.build(&targets);
    let (verified, ran) = project.run(project.command("main", &targets).arg("--verify-cache"));
    assert_eq!(verified, first);
    assert_eq!(go_builds(&ran).len(), 1, "--verify-cache builds: {ran:?}");

    fs::write(&stamp, "two").unwrap();
    // Without --verify-cache the binary is reused: the wrapper's file is
    // an input rko cannot see.
    let (reused, ran) = project.build(&targets);
    assert_eq!((&reused, ran), (&first, vec![]));
    let err = run_err(project.command("main", &targets).arg("--verify-cache"));
    assert!(
        err.contains("example.com/perf/cmd/app")
            && err.contains("linux/amd64")
            && err.contains("--verify-cache"),
        "{err}"
    );
}

/// Every command of the module, its `.ko.yaml` giving `cmd/odd` other
/// ldflags, and `tools/app` the binary name of `cmd/app`.
fn many_commands() -> Project {
    let project = Project::new(&["cmd/two", "cmd/three", "cmd/odd", "tools/app"]);
    fs::write(
        project.path(".ko.yaml"),
        "builds:\n- id: odd\n  main: ./cmd/odd\n  ldflags: [\"-X main.version=odd\"]\n",
    )
    .unwrap();
    project
}

const MANY: [&str; 5] = [
    "./cmd/app",
    "./cmd/two",
    "./cmd/three",
    "./cmd/odd",
    "./tools/app",
];

#[test]
fn one_go_build_for_all_targets_with_the_same_settings() {
    let project = many_commands();
    let (together, ran) = project.build(&MANY);
    let builds = go_builds(&ran);
    // cmd/app, cmd/two and cmd/three share one go build; cmd/odd's ldflags
    // and tools/app's name (Go would write both apps to DIR/app) split.
    assert_eq!(builds.len(), 3, "{ran:?}");
    let shared = builds
        .iter()
        .find(|b| b.contains("example.com/perf/cmd/two"))
        .unwrap_or_else(|| panic!("{builds:?}"));
    for path in ["cmd/app", "cmd/two", "cmd/three"] {
        assert!(
            shared.contains(&format!("example.com/perf/{path}")),
            "{shared}"
        );
    }
    assert!(
        !shared.contains("cmd/odd") && !shared.contains("tools/app"),
        "{shared}"
    );

    // One by one, each in a fresh KOCACHE: the same images.
    for (i, target) in MANY.iter().enumerate() {
        let (alone, _) = project.run(&mut project.command(&format!("alone-{i}"), &[target]));
        assert_eq!(alone, vec![together[i].clone()], "{target}");
    }
}

#[test]
fn the_images_do_not_depend_on_jobs() {
    let project = many_commands();
    let mut seen = Vec::new();
    for jobs in ["1", "3", "8"] {
        let (digests, _) = project.run(project.command(&format!("jobs-{jobs}"), &MANY).args([
            "--jobs",
            jobs,
            "--platform=linux/amd64,linux/arm64",
        ]));
        seen.push(digests);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

/// `go list` (which package a target is) is remembered by what decides its
/// answer, not by the directory's mtime, which an editor saving by rename
/// changes (issue 14, item 3).
#[test]
fn saving_by_rename_reruns_go_build_but_not_the_target_lookup() {
    let project = Project::new(&[]);
    let targets = ["./cmd/app"];
    project.build(&targets);
    let main = project.path("cmd/app/main.go");
    let text = fs::read_to_string(&main).unwrap();
    save_by_rename(
        &main,
        &text.replace("version = \"dev\"", "version = \"saved\""),
    );
    let (_, ran) = project.build(&targets);
    assert_eq!(go_builds(&ran).len(), 1, "{ran:?}");
    let lookups: Vec<&String> = ran.iter().filter(|l| l.starts_with("list -e ")).collect();
    assert_eq!(lookups, Vec::<&String>::new(), "{ran:?}");
}
