//! `printf` as Go's fmt.Sprintf formats strings, integers and booleans,
//! for the verbs flags use: `%s %q %v %d %t %x %X %%`, the flags `-`, `0`
//! and (with `%d`) `+`, a width, and a precision for strings. Where Go
//! would write a complaint into the output (`%!d(string=x)`, `%!(EXTRA
//! ...)`), rko refuses the template instead.

use super::lex::outside;
use super::value::Value;
use std::iter::Peekable;
use std::str::Chars;

/// One `%...` directive.
#[derive(Debug, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    verb: char,
}

/// Go's Sprintf of `format` with `args`.
pub fn sprintf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = Spec::parse(&mut chars, format)?;
        if spec.verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or_else(|| {
            format!(
                "printf {format:?} is missing an argument for %{}",
                spec.verb
            )
        })?;
        out.push_str(&spec.format(arg)?);
    }
    if args.next().is_some() {
        return Err(format!("printf {format:?} has more arguments than verbs"));
    }
    Ok(out)
}

/// A width or precision, read as Go's fmt reads one (`parsenum`): past
/// 10^6 Go stops reading and prints `%!(NOVERB)`, which rko refuses.
fn digits(chars: &mut Peekable<Chars>) -> Result<Option<usize>, String> {
    let mut value = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        let so_far = value.unwrap_or(0usize);
        if so_far > 1_000_000 {
            return Err(outside("a printf width or precision over 1000000"));
        }
        value = Some(so_far * 10 + d as usize);
        chars.next();
    }
    Ok(value)
}

impl Spec {
    fn parse(chars: &mut Peekable<Chars>, format: &str) -> Result<Spec, String> {
        let mut spec = Spec::default();
        while let Some(&c) = chars.peek() {
            match c {
                '-' => (spec.minus, spec.zero) = (true, false),
                '+' => spec.plus = true,
                '0' => spec.zero = !spec.minus,
                ' ' | '#' => return Err(outside(&format!("the printf flag {c:?}"))),
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(chars)?.unwrap_or(0);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(chars)?.unwrap_or(0));
        }
        spec.verb = match chars.next() {
            None => return Err(format!("printf format {format:?} ends with %")),
            Some(c @ ('*' | '[')) => return Err(outside(&format!("%{c}"))),
            Some(c @ ('s' | 'q' | 'v' | 'd' | 't' | 'x' | 'X' | '%')) => c,
            Some(c) => return Err(outside(&format!("%{c}"))),
        };
        if spec.plus && spec.verb != 'd' {
            return Err(outside(&format!("%+{}: the flag +", spec.verb)));
        }
        Ok(spec)
    }

    fn format(&self, arg: &Value) -> Result<String, String> {
        if self.precision.is_some() && !matches!(arg, Value::Str(_)) {
            return Err(outside(&format!(
                "a precision with %{} of {}",
                self.verb,
                arg.type_name()
            )));
        }
        let text = match (self.verb, arg) {
            ('s' | 'v', Value::Str(s)) => self.truncated(s),
            ('q', Value::Str(s)) => go_quote(&self.truncated(s)),
            ('x', Value::Str(s)) => hex::encode(s),
            ('X', Value::Str(s)) => hex::encode_upper(s),
            ('t' | 'v', Value::Bool(b)) => b.to_string(),
            ('d' | 'v', Value::Int(i)) => return Ok(self.number(*i, i.unsigned_abs().to_string())),
            ('x', Value::Int(i)) => return Ok(self.number(*i, format!("{:x}", i.unsigned_abs()))),
            ('X', Value::Int(i)) => return Ok(self.number(*i, format!("{:X}", i.unsigned_abs()))),
            (_, Value::Map(_) | Value::Nil) => return arg.print(),
            (verb, other) => return Err(outside(&format!("%{verb} of {}", other.type_name()))),
        };
        Ok(self.pad(text))
    }

    fn truncated(&self, s: &str) -> String {
        match self.precision {
            Some(n) => s.chars().take(n).collect(),
            None => s.to_string(),
        }
    }

    /// Width counts characters; zeros pad on the left (even strings, as in Go).
    fn pad(&self, text: String) -> String {
        let len = text.chars().count();
        if len >= self.width {
            return text;
        }
        let fill = self.width - len;
        if self.minus {
            text + &" ".repeat(fill)
        } else if self.zero {
            "0".repeat(fill) + &text
        } else {
            " ".repeat(fill) + &text
        }
    }

    /// An integer's sign, then zero padding, then its digits.
    fn number(&self, value: i64, digits: String) -> String {
        let sign = match (value < 0, self.plus) {
            (true, _) => "-",
            (false, true) => "+",
            (false, false) => "",
        };
        let len = sign.len() + digits.len();
        if self.zero && !self.minus && self.width > len {
            return format!("{sign}{}{digits}", "0".repeat(self.width - len));
        }
        self.pad(format!("{sign}{digits}"))
    }
}

/// Go's strconv.Quote (`%q`): escapes for quotes, backslashes and what
/// does not print.
fn go_quote(s: &str) -> String {
    let mut quoted = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{b}' => quoted.push_str("\\v"),
            ' '..='~' => quoted.push(c),
            c if c.is_ascii() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c if !c.is_control() && !c.is_whitespace() => quoted.push(c),
            c if (c as u32) < 0x10000 => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    quoted.push('"');
    quoted
}
