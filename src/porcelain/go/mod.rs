//! The Go toolchain, as the porcelain drives it: `go list` to resolve what
//! to build, `go build` to build it, and what each build read, recorded so
//! that a build whose inputs all hold is never run again.
//!
//! Files, lowest first: `env` (which go, its environment, its errors),
//! `list`, `command` (one `go build`), `vcs` (what Go stamps from git),
//! `input_set` (what a build read), `inputs` (finding it with `go list
//! -deps`), `fingerprint` (the record beside each binary, and its check).
//! It may use the cache (`list` remembers answers there) and every layer
//! below the porcelain; nothing in it knows about images or registries.

pub(crate) mod command;
pub(crate) mod env;
pub(crate) mod fingerprint;
pub(crate) mod input_set;
pub(crate) mod inputs;
pub(crate) mod list;
pub(crate) mod vcs;
