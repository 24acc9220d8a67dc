//! The documentation's commands, run: every ```` ```sh ```` block of
//! README.md and docs/*.md runs here, so that the docs cannot drift from
//! what rko does.
//!
//! The blocks of one page run in order, each in a fresh `bash -euo
//! pipefail` from the root of a scratch copy of the repository's
//! `examples/` (the files one block leaves are there for the next), with
//! rko and Go on `PATH`, Go offline, and a real distribution registry
//! standing in for `registry.example.com` (the only text changed before a
//! block runs). kubectl talks to a stand-in API server. A block that cannot
//! run here (a Bazel build, `kubectl delete`, the test suite itself) says
//! where it is tested instead: ```` ```sh tested-elsewhere: FILE… ````,
//! and each file it names must exist.

use crate::util::kube::{kubeconfig, KubeApi};
use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One fenced block of a page.
struct Block {
    page: String,
    /// The line of its opening fence, 1-based.
    line: usize,
    /// What follows the opening fence: `sh`, `python`, `sh tested-elsewhere: …`.
    info: String,
    text: String,
}

impl Block {
    fn is_shell(&self) -> bool {
        self.info == "sh" || self.info.starts_with("sh ")
    }

    /// The files a block marked `tested-elsewhere` names.
    fn tested_elsewhere(&self) -> Option<Vec<&str>> {
        let rest = self.info.strip_prefix("sh tested-elsewhere:")?;
        Some(rest.split_whitespace().collect())
    }
}

/// README.md and every page of docs/, in a fixed order.
fn pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root.join("README.md"));
    pages
}

/// The fenced blocks of `page`.
fn blocks(page: &Path) -> Vec<Block> {
    let name = page.strip_prefix(repo_root()).unwrap_or(page);
    let text = fs::read_to_string(page).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    page: name.display().to_string(),
                    line: i + 1,
                    info: info.trim().to_string(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(
        open.is_none(),
        "{}: a fence is never closed",
        name.display()
    );
    blocks
}

#[test]
fn every_shell_block_in_the_docs_runs_here_or_names_where_it_is_tested() {
    let mut checked = 0;
    for page in pages() {
        for block in blocks(&page).iter().filter(|b| b.is_shell()) {
            checked += 1;
            let Some(files) = block.tested_elsewhere() else {
                assert_eq!(
                    block.info, "sh",
                    "{}:{}: unknown fence",
                    block.page, block.line
                );
                continue;
            };
            assert!(
                !files.is_empty(),
                "{}:{}: tested-elsewhere names no file",
                block.page,
                block.line
            );
            for file in files {
                assert!(
                    repo_root().join(file).is_file(),
                    "{}:{}: tested-elsewhere names {file}, which does not exist",
                    block.page,
                    block.line
                );
            }
        }
    }
    assert!(checked >= 15, "only {checked} shell blocks found");
}

/// Runs every runnable block of `page` in order, in one scratch copy of
/// `examples/`, against a fresh registry.
fn run_page(page: &str) {
    let path = repo_root().join(page);
    let runnable: Vec<Block> = blocks(&path)
        .into_iter()
        .filter(|b| b.is_shell() && b.tested_elsewhere().is_none())
        .collect();
    assert!(!runnable.is_empty(), "{page}: no block to run");
    let registry = Registry::start(Auth::None);
    let api = KubeApi::start();
    let dir = temp_dir();
    let root = dir.path().join("repo");
    fs::create_dir(&root).unwrap();
    copy_tree(&repo_root().join("examples"), &root.join("examples"));
    let kubeconfig = kubeconfig(dir.path(), api.port);
    for block in runnable {
        let script = block.text.replace("registry.example.com", &registry.host());
        let mut bash = shell(dir.path(), &kubeconfig);
        let output = bash
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}:{}: the block failed ({})\n{}\nstdout:\n{}\nstderr:\n{}",
            block.page,
            block.line,
            output.status,
            block.text,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// bash with the porcelain's isolated environment (`state` holds its
/// cache, HOME and Docker config), rko and Go first on `PATH`.
fn shell(state: &Path, kubeconfig: &Path) -> Command {
    let template = porcelain(state);
    let mut bash = Command::new("bash");
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => bash.env(name, value),
            None => bash.env_remove(name),
        };
    }
    let rko = PathBuf::from(env!("CARGO_BIN_EXE_rko"));
    let go = require("go");
    let path = std::env::join_paths(
        [rko.parent().unwrap(), go.parent().unwrap()]
            .into_iter()
            .map(Path::to_path_buf)
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            )),
    )
    .unwrap();
    bash.env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECTL", require("kubectl"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("KO_DATA_DATE_EPOCH", "1700000000")
        .env("TOKEN", "not-a-secret");
    bash
}

#[test]
fn the_readme_commands_run() {
    run_page("README.md");
}

#[test]
fn the_plumbing_commands_run() {
    run_page("docs/plumbing.md");
}

#[test]
fn the_porcelain_commands_run() {
    run_page("docs/porcelain.md");
}

#[test]
fn the_provenance_commands_run() {
    run_page("docs/provenance.md");
}

#[test]
fn the_demo_builds_the_example_twice_into_one_digest_and_the_image_answers() {
    let dir = temp_dir();
    let out = dir.path().join("demo");
    let template = porcelain(dir.path());
    let mut demo = Command::new(repo_root().join("scripts/demo"));
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => demo.env(name, value),
            None => demo.env_remove(name),
        };
    }
    let (stdout, stderr) = run_ok_with_stderr(
        demo.arg(&out)
            .env("RKO_BINARY", env!("CARGO_BIN_EXE_rko"))
            .current_dir(repo_root()),
    );
    // "digest sha256:…" once for `rko build`, once for the plumbing.
    let digests: Vec<&str> = stdout
        .split_whitespace()
        .filter(|word| word.starts_with("sha256:"))
        .collect();
    assert_eq!(digests.len(), 2, "{stdout}");
    assert_eq!(digests[0], digests[1], "{stdout}");
    assert!(
        stderr.contains("the container answered: ") && !stderr.contains("answered: nothing"),
        "{stderr}"
    );
}
