//! One side-by-side case: a Go module (shared, plus files this case adds),
//! a working directory, a command line and an environment, read from
//! `tests/parity/fixtures/NAME.yaml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(skip)]
    pub name: String,
    /// What the case shows (and the issue item it pins, if any).
    pub about: String,
    /// `tests/parity/modules/NAME`, or a path from the repository root
    /// (`examples/deps`).
    pub module: String,
    /// Files this case adds to (or replaces in) the module (`{registry}`
    /// and `{base}` replaced).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Symbolic links this case adds: path in the module → target.
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// The working directory, relative to the module.
    #[serde(default)]
    pub dir: Option<String>,
    /// The command line after the tool's name. `{out}` is the tool's own
    /// output directory, `{registry}` the registry's host:port, `{base}`
    /// the base image both tools get.
    pub args: Vec<String>,
    /// Environment on top of the harness's (placeholders as in `args`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables of the harness's environment this case removes.
    #[serde(default)]
    pub unset: Vec<String>,
    /// Both tools must fail, each naming every one of these in its error.
    #[serde(default)]
    pub fails_naming: Vec<String>,
    /// Log lines (on stderr) starting with one of these are compared, in
    /// order, with paths, digests and times taken out.
    #[serde(default)]
    pub stderr: Vec<String>,
    /// Reads the SBOM of each printed image with `cosign download sbom`.
    #[serde(default)]
    pub sbom: bool,
    /// Files the tools write under `{out}`, compared as text.
    #[serde(default)]
    pub files_out: Vec<String>,
    /// Stdout is closed after its first line, as `| head -1` does: the
    /// tool must end quietly (stdout itself is not compared).
    #[serde(default)]
    pub close_stdout: bool,
    /// The tools load into the local daemon (podman's Docker API for ko,
    /// the same storage for rko's podman); each printed image is compared
    /// as `podman image inspect` shows it.
    #[serde(default)]
    pub local: bool,
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut fixture: Fixture = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
        fixture.name = path.file_stem().unwrap().to_string_lossy().into_owned();
        fixture
    }

    /// Every fixture, by name.
    pub fn all(dir: &Path) -> Vec<Fixture> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Fixture::load(p)).collect()
    }

    /// The value of the flag `name` (`--name V` or `--name=V`), if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        let long = format!("{name}=");
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == name {
                return args.next().map(String::as_str);
            }
            if let Some(value) = arg.strip_prefix(&long) {
                return Some(value);
            }
        }
        None
    }
}
