//! `rko build` and `KOCACHE` on an unlucky machine: killed runs, truncated
//! binaries, concurrent builds, a full cache disk (issue 11).
