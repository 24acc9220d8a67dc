//! Percent-decoding (`%XX`), as URLs and gRPC's `grpc-message` write it.

/// `%XX` escapes decoded; anything malformed is kept as written, and bytes
/// that are not UTF-8 are replaced.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_malformed_ones_kept() {
        for (text, want) in [
            ("a%20b", "a b"),
            ("100%25", "100%"),
            ("%zz%2", "%zz%2"),
            ("%", "%"),
            ("plain", "plain"),
        ] {
            assert_eq!(decode(text.as_bytes()), want, "{text}");
        }
    }
}
