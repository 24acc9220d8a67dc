//! What connecting to a registry learned, kept for a run: the scheme that
//! answered, the connection pool and the challenge of `GET /v2/`. Later
//! clients of the same registry skip the ping and reuse the connections
//! (no new TLS handshake), so a build pushing many images there pings it
//! once, and can do so while `go build` runs.

use super::agents::Agents;
use super::challenge::Challenge;
use crate::parallel::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One registry as a ping found it.
#[derive(Clone)]
pub struct Session {
    /// `https://HOST[:PORT]` or `http://HOST[:PORT]`.
    pub base: String,
    /// Share their connection pools with every clone.
    pub agents: Agents,
    /// What `GET /v2/` asked for; `None` when it wanted no authentication.
    pub challenge: Option<Challenge>,
}

/// The slot of one registry: empty until it is pinged; then the session,
/// or why the ping failed (said again to every later client, not tried
/// again: a registry that cannot be reached makes a run wait once).
pub type Slot = Arc<Mutex<Option<Result<Session, String>>>>;

/// The sessions of a run, by registry; shared by clones.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Slot>>>);

impl Sessions {
    /// The slot of `registry` reached with `insecure` allowed or not: the
    /// caller holds its lock while it pings, so that clients connecting at
    /// the same time ping once.
    pub fn slot(&self, registry: &str, insecure: bool) -> Slot {
        let key = format!("{registry} insecure={insecure}");
        Arc::clone(lock(&self.0).entry(key).or_default())
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<String> = lock(&self.0).keys().cloned().collect();
        f.debug_tuple("Sessions").field(&known).finish()
    }
}
