//! An image's parts: the base (by name, from a registry, the local daemon
//! or a layout, cached by digest) and the binary and kodata layers (cached
//! by their inputs). It may use the settings, publishing's local daemon,
//! the cache and every layer below the porcelain.

pub(crate) mod base_image;
pub(crate) mod layers;
