//! The porcelain layer: what `rko build`, `resolve` and `apply` do for a
//! person, in-process. Like every layer below the command line, it reads
//! no environment variables, clock or working directory: those arrive as
//! values. It may use every lower layer (image, registry, sbom, yaml, the
//! primitives) and is used only by the command line.
//!
//! Its rooms, each using only those listed after it:
//! - on top, `verify` (an image rebuilt as its provenance says, and
//!   compared), then the run: `pipeline` (a request from the command line: read
//!   `.ko.yaml`, plan, build, publish), `build` (one work item per import
//!   path and platform), `binaries` (which binaries to build, in how many
//!   `go build`s), `context` (what every step of one run shares),
//!   `announce` (ko's log lines, in ko's order), `attest` (each image's
//!   provenance);
//! - `assemble/`: the base image and the binary and kodata layers;
//! - `settings/`: `.ko.yaml`, its templates, and the precedence rules that
//!   give each package its plan;
//! - `publish/`: registry, local daemon, layout, tarball, and naming;
//! - `go/`: `go list`, `go build`, and what each build read;
//! - `cache/`: `KOCACHE`, its locks and its cap.

pub(crate) mod announce;
pub(crate) mod assemble;
pub(crate) mod attest;
pub(crate) mod binaries;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod context;
pub(crate) mod go;
pub(crate) mod pipeline;
pub(crate) mod publish;
pub(crate) mod settings;
pub(crate) mod verify;
