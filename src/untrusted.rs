//! Text a remote party wrote (a registry's error message, a token
//! server's answer, a credential helper's complaint) made safe to print:
//! control characters would let it move the cursor, retitle the terminal
//! or start a line of its own that reads like one of rko's.

/// `text` with every control character (C0, DEL, C1), every line or
/// paragraph separator and every bidirectional override written as an
/// escape (`\n`, `\u{1b}`), so that it prints as one inert line.
/// Backslashes are left alone: they cannot act on a terminal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if acts_on_terminal(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with the characters that act on a terminal escaped, except line
/// breaks and tabs: for the last line of defence, where rko prints its own
/// messages, which may quote a local tool's multi-line output (a compiler's
/// errors) that should keep its lines.
pub fn escape_keeping_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| line.split('\t').map(escape).collect::<Vec<_>>().join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters that do something on a terminal or reorder what it shows.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        // Bidirectional embeddings, overrides and isolates ("Trojan Source").
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::{escape, escape_keeping_lines};

    #[test]
    fn control_characters_print_as_escapes_and_everything_else_as_is() {
        for (text, want) in [
            ("blob unknown to registry", "blob unknown to registry"),
            ("naïve ünïcode ✓", "naïve ünïcode ✓"),
            (r"C:\path", r"C:\path"),
            // A fake line of rko's own.
            ("denied\nrko: pushed ok", r"denied\nrko: pushed ok"),
            ("over\rrko: ok", r"over\rrko: ok"),
            // Retitling the terminal, colouring, clearing.
            ("\u{1b}]0;pwned\u{7}", r"\u{1b}]0;pwned\u{7}"),
            ("\u{1b}[2J", r"\u{1b}[2J"),
            ("tab\there", r"tab\there"),
            ("\u{9b}31m", r"\u{9b}31m"),
            ("\u{7f}", r"\u{7f}"),
            ("a\u{2028}b", r"a\u{2028}b"),
            ("\u{202e}gpj.exe", r"\u{202e}gpj.exe"),
            ("\u{2066}x\u{2069}", r"\u{2066}x\u{2069}"),
        ] {
            assert_eq!(escape(text), want, "{text:?}");
        }
    }

    #[test]
    fn rkos_own_messages_keep_their_lines_and_tabs_but_lose_escape_sequences() {
        for (text, want) in [
            (
                "main.go:3:1: syntax error\n\tnear x",
                "main.go:3:1: syntax error\n\tnear x",
            ),
            ("\u{1b}[31mred\u{1b}[0m\nok", "\\u{1b}[31mred\\u{1b}[0m\nok"),
            ("a\r\nb", "a\\r\nb"),
        ] {
            assert_eq!(escape_keeping_lines(text), want, "{text:?}");
        }
    }
}
