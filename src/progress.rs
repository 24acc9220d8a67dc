//! How far the bytes of a run have got, for a live display to read. The
//! steps themselves are `log` records (`info!` for what ko logs, `debug!`
//! for each registry request); the CLI decides how to show both. These
//! are counters only: nothing here prints, and nothing depends on them.

use std::sync::atomic::{AtomicU64, Ordering};

static UPLOAD_EXPECTED: AtomicU64 = AtomicU64::new(0);
static UPLOAD_SENT: AtomicU64 = AtomicU64::new(0);

/// An upload of `bytes` is starting.
pub fn upload_started(bytes: u64) {
    UPLOAD_EXPECTED.fetch_add(bytes, Ordering::Relaxed);
}

/// `bytes` more of an upload reached the registry.
pub fn uploaded(bytes: u64) {
    UPLOAD_SENT.fetch_add(bytes, Ordering::Relaxed);
}

/// (bytes sent, bytes to send) over every upload of this process so far.
pub fn upload_bytes() -> (u64, u64) {
    (
        UPLOAD_SENT.load(Ordering::Relaxed),
        UPLOAD_EXPECTED.load(Ordering::Relaxed),
    )
}
