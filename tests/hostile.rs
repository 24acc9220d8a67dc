//! rko against a misbehaving registry: credentials stay home, every read is
//! bounded, wrong bytes are refused (issue 11).
