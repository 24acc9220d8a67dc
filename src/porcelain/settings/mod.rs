//! What each import path gets: `.ko.yaml` (read, its templates rendered,
//! its keys checked), the command line (`flags`) and the environment
//! (`env`), joined by the precedence rules of `plan` (with `publishing`,
//! where images go) into one plan per package.
//!
//! It may use `publish`'s naming rules and options, the Go toolchain's
//! `go list` (a plan is per main package) and every layer below the
//! porcelain; it never builds or publishes anything itself.

pub(crate) mod capabilities;
pub(crate) mod env;
pub(crate) mod flags;
pub(crate) mod ko_yaml;
mod ko_yaml_keys;
mod ko_yaml_source;
pub(crate) mod plan;
pub(crate) mod publishing;
pub(crate) mod template;
