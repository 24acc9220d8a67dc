//! An adversarial registry: a small HTTP server on 127.0.0.1 (and a second
//! on 127.0.0.2, "another host") that misbehaves on purpose.
