//! The integration tests, compiled into one binary as ripgrep's are: one
//! link instead of one per file, and one process whose helpers (the hello
//! binary built once per architecture) every scenario shares. `util` is the
//! harness; each other module is one area of behaviour.

mod readers;
mod util;

mod bazel;
mod bazel_platforms;
mod bazel_remote;
mod bazel_rules;
mod binary_platform;
mod build;
mod cache;
mod check_image;
mod credential_helpers;
mod deps;
mod determinism;
mod docker_config;
mod docs;
mod errors;
mod fixed_costs;
mod hostile;
mod interop;
mod keychain;
mod ko_yaml;
mod layer_scale;
mod lazy_push;
mod parity;
mod parity_base;
mod parity_cli;
mod parity_flags;
mod parity_local;
mod parity_sbomtag;
mod parity_yaml;
mod perf_gobuild;
mod plumbing;
mod progress;
mod provenance;
mod proxy;
mod push_stream;
mod registry;
mod remote_cache;
mod resolve;
mod sbom;
mod sparse;
mod ssl_cert_file;
mod trust_build;
mod trust_image;
mod trust_tls;
