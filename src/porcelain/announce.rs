//! ko's log order for each import path: its `Using base …` line before its
//! `Building … for …` lines, although rko starts `go build` while the base
//! is still being resolved (see `build::overlapped`). A `Building` line
//! that comes first is held until its import path's base is announced.

use std::collections::BTreeSet;
use std::sync::Mutex;

#[derive(Default)]
pub struct Announcer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Import paths whose base was announced.
    announced: BTreeSet<String>,
    /// Lines waiting for their import path's base, in the order they came.
    held: Vec<(String, String)>,
}

impl Announcer {
    /// Logs the base line of `import_path`, then the lines held for it.
    pub fn base(&self, import_path: &str, line: String) {
        let mut state = crate::parallel::lock(&self.state);
        log::info!("{line}");
        state.announced.insert(import_path.to_string());
        let held = std::mem::take(&mut state.held);
        for (path, line) in held {
            if path == import_path {
                log::info!("{line}");
            } else {
                state.held.push((path, line));
            }
        }
    }

    /// Logs `line` once the base of `import_path` has been announced.
    pub fn after_base(&self, import_path: &str, line: String) {
        let mut state = crate::parallel::lock(&self.state);
        if state.announced.contains(import_path) {
            log::info!("{line}");
        } else {
            state.held.push((import_path.to_string(), line));
        }
    }
}
