//! Bazel for the tests: a copy of examples/bazel (and of the rko repository
//! it loads its rules from) with its own output root, Debian's Bazel 4.2.3
//! run with no system or home rc file, and the execution log read back.

use super::{copy_tree, repo_root, require, run_ok_with_stderr, tiny_hello};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which program the copied examples/hello holds.
#[derive(Clone, Copy)]
pub enum Hello {
    /// The example as it is: an HTTP server, all of net/http compiled.
    Example,
    /// Its main package importing nothing (`tiny_hello`): for the tests
    /// about where actions run, what they cache, which platforms they build
    /// for and whether Bazel, Make and `rko build` agree, which hold for any
    /// Go program (the tests of `ko_resolve`, `ko_load` into podman and
    /// `ko_image_test` build the example itself). Each GoBuild action
    /// compiles the standard library in a build cache of its own, and for
    /// the example that is 28 CPU-seconds a platform; for this program, the
    /// runtime only.
    Tiny,
}

/// What of the rko repository a workspace needs, copied so the test can edit it.
pub fn copy_rko_repo(to: &Path, hello: Hello) {
    fs::create_dir_all(to.join("examples")).unwrap();
    for item in ["rules", "WORKSPACE", "BUILD.bazel", "MODULE.bazel"] {
        copy_tree(&repo_root().join(item), to);
    }
    match hello {
        Hello::Example => copy_tree(&repo_root().join("examples/hello"), &to.join("examples")),
        Hello::Tiny => {
            tiny_hello(&to.join("examples/hello"));
        }
    }
}

/// The copy of the rko repository under `dir` (`dir/rko`), made on first use.
pub fn rko_repo_in(dir: &Path, hello: Hello) -> PathBuf {
    let rko_repo = dir.join("rko");
    if !rko_repo.exists() {
        copy_rko_repo(&rko_repo, hello);
    }
    rko_repo
}

/// The kinds of action a build of the example's `//...` runs: its Go
/// compile and every rko step.
pub const EXAMPLE_ACTIONS: [&str; 6] = [
    "GoBuild",
    "RkoLayer",
    "RkoAppend",
    "RkoIndex",
    "RkoSbom",
    "RkoResolve",
];

/// A copy of examples/bazel with its own output root, shut down when dropped.
/// Its server outlives a build of another workspace (600 s idle): a stale
/// result lives in a running server's memory, and a test that let the
/// server stop between two builds would not see it.
pub struct Workspace {
    pub path: PathBuf,
    output_root: PathBuf,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = self.bazel().arg("shutdown").output();
    }
}

impl Workspace {
    /// examples/bazel copied to `dir/at`, its `@rko` pointing at `rko_repo`;
    /// Bazel's output root is `dir/output_root`.
    pub fn copy(dir: &Path, at: &str, output_root: &str, rko_repo: &Path) -> Workspace {
        let path = dir.join(at);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        copy_tree(&repo_root().join("examples/bazel"), &path);
        let workspace = path.join("WORKSPACE");
        let text = fs::read_to_string(&workspace).unwrap();
        fs::write(
            &workspace,
            text.replace(
                "path = \"../..\",",
                &format!("path = \"{}\",", rko_repo.display()),
            ),
        )
        .unwrap();
        Workspace {
            path,
            output_root: dir.join(output_root),
        }
    }

    /// `bazel` in the workspace, finding Go and rko as a user's machine would:
    /// `go` on PATH, rko from `RKO_BINARY`.
    pub fn bazel(&self) -> Command {
        let mut cmd = Command::new(require("bazel"));
        cmd.current_dir(&self.path)
            .args(["--nosystem_rc", "--nohome_rc", "--max_idle_secs=600"])
            // A test's server lives for a few builds: the JIT's first tier
            // is enough, and the optimizing tier's CPU is saved (a fresh
            // build of the example: 13 CPU-seconds with it, 10 without).
            .arg("--host_jvm_args=-XX:TieredStopAtLevel=1")
            .arg(format!("--output_user_root={}", self.output_root.display()))
            .env("GOCACHE", super::gocache())
            .env("RKO_BINARY", env!("CARGO_BIN_EXE_rko"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    require("go").parent().unwrap().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        cmd
    }

    /// `bazel build TARGETS` with `flags`; the spawns of its execution log,
    /// kept at `log`. Every rko action is quiet on success: Bazel shows
    /// what an action prints ("INFO: From RkoLayer …"), and none may.
    pub fn build_logged(&self, targets: &[&str], flags: &[&str], log: &Path) -> Vec<Value> {
        let (_, stderr) = run_ok_with_stderr(
            self.bazel()
                .arg("build")
                .args(targets)
                .args(flags)
                .arg(format!("--execution_log_json_file={}", log.display())),
        );
        assert!(
            !stderr.contains("INFO: From Rko"),
            "an rko action printed on success:\n{stderr}"
        );
        spawns(log)
    }

    /// A file Bazel wrote under bazel-bin.
    pub fn output(&self, name: &str) -> String {
        fs::read_to_string(self.output_path(name)).unwrap()
    }

    /// The path of an output under bazel-bin.
    pub fn output_path(&self, name: &str) -> PathBuf {
        self.path.join("bazel-bin").join(name)
    }

    /// Shares this workspace's Go compiles with every other workspace that
    /// shares them, through one Bazel disk cache for the whole suite: the
    /// example's `go_binary` stands in for rules_go, and compiling the
    /// standard library for `hello` is most of a fresh build's work. Only
    /// GoBuild is shared: every rko action (`Rko*`) is marked
    /// `no-remote-cache`, which Bazel 4 applies to the disk cache too, so it
    /// still runs in this workspace. For a test that asserts nothing about
    /// where its GoBuild came from, and uses no remote cache or executor of
    /// its own: the tests that do keep their own compiles.
    pub fn share_go_builds(&self) {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bazel-go-builds");
        self.append(
            ".bazelrc",
            &format!(
                "build --disk_cache={}\nbuild --modify_execution_info=Rko.*=+no-remote-cache\n",
                cache.display()
            ),
        );
    }

    /// Points the workspace's rko toolchain at `rko` instead of `RKO_BINARY`.
    pub fn use_rko(&self, rko: &Path) {
        self.replace(
            "WORKSPACE",
            "rko_local_toolchain(name = \"rko_toolchain\")",
            &format!(
                "rko_local_toolchain(name = \"rko_toolchain\", path = \"{}\")",
                rko.display()
            ),
        );
    }

    /// Appends `text` to the workspace's file `name` (made when missing).
    pub fn append(&self, name: &str, text: &str) {
        let path = self.path.join(name);
        let mut content = fs::read_to_string(&path).unwrap_or_default();
        content.push_str(text);
        fs::write(&path, content).unwrap();
    }

    /// Replaces `from` (which must be there) by `to` in the file `name`.
    pub fn replace(&self, name: &str, from: &str, to: &str) {
        let path = self.path.join(name);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{name} has no {from:?}");
        fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Loads `symbols` from rko's defs.bzl at the top of BUILD.bazel (a
    /// load must come before any rule).
    pub fn load_defs(&self, symbols: &[&str]) {
        let quoted: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
        let path = self.path.join("BUILD.bazel");
        let text = fs::read_to_string(&path).unwrap();
        let load = format!("load(\"@rko//rules:defs.bzl\", {})\n", quoted.join(", "));
        fs::write(&path, load + &text).unwrap();
    }
}

/// The spawns in a Bazel execution log (a stream of JSON objects).
pub fn spawns(log: &Path) -> Vec<Value> {
    let text = fs::read_to_string(log).unwrap();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| v.unwrap())
        .collect()
}

/// A spawn's output paths, space-separated.
pub fn outputs(spawn: &Value) -> String {
    spawn["actualOutputs"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|x| x["path"].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
