//! How long rko waits on a registry, and what it says when a wait runs
//! out: connecting, the response headers, silence (the idle timeout), and
//! crawling (the [rate floor](super::rate_floor)).

use super::rate_floor::RateFloor;
use super::response::{transient, Response};
use crate::error::Error;
use std::time::Duration;

/// How long connecting (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the response headers may take, in idle timeouts: 120 s by
/// default. Headers sent a byte at a time never leave the connection idle.
const HEADER_TIMEOUTS: u32 = 4;

/// The bounds on every network wait of one client.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// The longest any single read or write may wait (`--network-timeout`).
    pub idle: Duration,
    pub floor: RateFloor,
}

/// How long a response's headers may take in all, for an idle timeout of `idle`.
pub fn header_timeout(idle: Duration) -> Duration {
    idle * HEADER_TIMEOUTS
}

impl Waits {
    /// How long a response's headers may take in all.
    pub fn headers(&self) -> Duration {
        header_timeout(self.idle)
    }

    /// `response` with its body held to the rate floor.
    pub fn floored(&self, response: Response) -> Response {
        let floor = self.floor;
        response.map(|body| ureq::Body::builder().reader(floor.reader(body.into_reader())))
    }

    /// A transport error of `what` (`GET URL`) as an [`Error`]: a failure
    /// of the connection is a network error, worth another try.
    pub fn failure(&self, what: &str, error: &ureq::Error) -> Error {
        if transient(error) {
            Error::Network {
                what: what.to_string(),
                message: self.explain(error),
                attempts: 1,
            }
        } else {
            Error::invalid(format!("{what}: {error}"))
        }
    }

    /// A transport error in words; a timeout says which wait ran out, after
    /// how long, and which flag sets it.
    pub fn explain(&self, error: &ureq::Error) -> String {
        use ureq::Timeout;
        let seconds = |d: Duration| d.as_secs_f64();
        match error {
            ureq::Error::Timeout(Timeout::PerRead) => format!(
                "the registry sent nothing for {} s (--network-timeout)",
                seconds(self.idle)
            ),
            ureq::Error::Timeout(Timeout::PerWrite) => format!(
                "the registry took nothing of the request for {} s (--network-timeout)",
                seconds(self.idle)
            ),
            ureq::Error::Timeout(Timeout::RecvResponse) => format!(
                "the registry sent its response headers too slowly: not complete after {} s \
                 ({HEADER_TIMEOUTS} × --network-timeout)",
                seconds(self.headers())
            ),
            ureq::Error::Timeout(Timeout::Connect) => {
                format!("no connection after {} s", seconds(CONNECT_TIMEOUT))
            }
            ureq::Error::Io(e) => e.to_string(),
            // A proxy's failure (proxy_connect.rs) already names the proxy.
            ureq::Error::ConnectProxyFailed(message) => message.clone(),
            ureq::Error::Other(e) => e.to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Timeout;

    #[test]
    fn each_timeout_says_which_wait_ran_out_and_after_how_long() {
        let waits = Waits {
            idle: Duration::from_secs(30),
            floor: RateFloor::default(),
        };
        let crawled = std::io::Error::new(std::io::ErrorKind::TimedOut, "the transfer crawled");
        for (error, want) in [
            (
                ureq::Error::Timeout(Timeout::PerRead),
                "the registry sent nothing for 30 s (--network-timeout)",
            ),
            (
                ureq::Error::Timeout(Timeout::PerWrite),
                "the registry took nothing of the request for 30 s (--network-timeout)",
            ),
            (
                ureq::Error::Timeout(Timeout::RecvResponse),
                "the registry sent its response headers too slowly: not complete after 120 s \
                 (4 × --network-timeout)",
            ),
            (
                ureq::Error::Timeout(Timeout::Connect),
                "no connection after 15 s",
            ),
            (ureq::Error::Io(crawled), "the transfer crawled"),
        ] {
            assert_eq!(waits.explain(&error), want);
        }
    }
}
