//! Splitting a template into text and actions, and an action into tokens,
//! as Go's text/template/parse lexer does: `{{- ` and ` -}}` trim the
//! whitespace beside them, `{{/* */}}` is a comment, a `}}` inside a quoted
//! string does not end the action, and a stray `}}` in text is text.

use super::TemplateError;

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Text(String),
    /// An action: its source (`{{...}}`, for messages) and its tokens.
    Action {
        source: String,
        tokens: Vec<Token>,
    },
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// `.` (empty) or `.A.B`: a chain of fields from the data.
    Field(Vec<String>),
    /// `$`, `$x`, or either with a chain of fields (`$x.A.B`).
    Variable(String, Vec<String>),
    /// `:=`
    Declare,
    /// `=`
    Assign,
    Comma,
    /// A function name or a keyword (`if`, `else`, `end`, `true`, ...).
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close,
}

/// What Go's lexer calls space.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `-` followed by a space, right after `{{`.
fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// Whether `s` starts with `}}`, or with a space, `-` and `}}`; and how
/// long that closing is and whether it trims.
fn right_delim(s: &str) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    if b.len() >= 4 && is_space(b[0] as char) && b[1] == b'-' && &b[2..4] == b"}}" {
        return Some((4, true));
    }
    s.starts_with("}}").then_some((2, false))
}

/// Splits `text` into items, trim markers applied, comments dropped.
pub fn items(text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start_matches(is_space);
        }
        let after = &rest[start + 2..];
        let trim_left = has_left_trim(after);
        if trim_left {
            before = before.trim_end_matches(is_space);
        }
        push_text(&mut items, before);
        let body = if trim_left { &after[2..] } else { after };
        let (len, trims) = if body.starts_with("/*") {
            comment(body, &rest[start..])?
        } else {
            let (tokens, len, trims) = Lexer::new(body, &rest[start..]).tokens()?;
            let skip = if trim_left { 2 } else { 0 };
            let source = &rest[start..start + 2 + skip + len];
            items.push(Item::Action {
                source: source.to_string(),
                tokens,
            });
            (len, trims)
        };
        trim_next = trims;
        rest = &body[len..];
    }
    push_text(
        &mut items,
        if trim_next {
            rest.trim_start_matches(is_space)
        } else {
            rest
        },
    );
    Ok(items)
}

fn push_text(items: &mut Vec<Item>, text: &str) {
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
}

/// A comment starting `body`: its length through the closing delimiter.
fn comment(body: &str, whole: &str) -> Result<(usize, bool), TemplateError> {
    let source = || excerpt(whole);
    let end = body[2..]
        .find("*/")
        .ok_or_else(|| TemplateError::new(source(), "unclosed comment"))?
        + 4;
    let (len, trims) = right_delim(&body[end..])
        .ok_or_else(|| TemplateError::new(source(), "comment ends before closing delimiter"))?;
    Ok((end + len, trims))
}

/// The action starting `whole`, through the first `}}` (or 60 characters).
fn excerpt(whole: &str) -> String {
    match whole[2..].find("}}") {
        Some(end) => whole[..end + 4].to_string(),
        None => whole.chars().take(60).collect(),
    }
}

/// Tokens of one action.
struct Lexer<'a> {
    body: &'a str,
    pos: usize,
    /// The template from this action's `{{` on, for messages.
    whole: &'a str,
    tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    fn new(body: &'a str, whole: &'a str) -> Self {
        Lexer {
            body,
            pos: 0,
            whole,
            tokens: Vec::new(),
        }
    }

    fn error(&self, message: impl Into<String>) -> TemplateError {
        TemplateError::new(excerpt(self.whole), message)
    }

    fn rest(&self) -> &'a str {
        &self.body[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The tokens, the length of the action's body through its closing
    /// delimiter, and whether that delimiter trims.
    fn tokens(mut self) -> Result<(Vec<Token>, usize, bool), TemplateError> {
        loop {
            if let Some((len, trims)) = right_delim(self.rest()) {
                return Ok((self.tokens, self.pos + len, trims));
            }
            let Some(c) = self.peek() else {
                return Err(self.error("unclosed action"));
            };
            match c {
                c if is_space(c) => self.pos += 1,
                '|' => self.single(Token::Pipe),
                '(' => self.single(Token::Open),
                ')' => {
                    self.single(Token::Close);
                    if self.rest().starts_with('.') {
                        return Err(self.error(outside("a field of a parenthesized pipeline")));
                    }
                }
                '"' => self.quoted()?,
                '`' => self.raw()?,
                '.' => self.field()?,
                '+' | '-' | '0'..='9' => self.number()?,
                '$' => self.variable()?,
                '\'' => return Err(self.error(outside(&self.char_literal()))),
                ':' if self.rest().starts_with(":=") => {
                    self.tokens.push(Token::Declare);
                    self.pos += 2;
                }
                ':' => return Err(self.error("expected :=")),
                '=' => self.single(Token::Assign),
                ',' => self.single(Token::Comma),
                c if c == '_' || c.is_alphanumeric() => self.ident()?,
                c => return Err(self.error(format!("bad character {c:?}"))),
            }
        }
    }

    fn single(&mut self, token: Token) {
        self.tokens.push(token);
        self.pos += 1;
    }

    /// After a name or a literal: what Go's lexer accepts next (a `.`
    /// goes on a field chain, which [`Self::field`] reads whole).
    fn terminated(&self) -> Result<(), TemplateError> {
        match self.peek() {
            None => Ok(()),
            Some('.') => Err(self.error("unexpected . after a term")),
            Some(c) if is_space(c) || matches!(c, '|' | ')' | '(' | ',' | ':' | '=') => Ok(()),
            Some(_) if right_delim(self.rest()).is_some() => Ok(()),
            Some(c) => Err(self.error(format!("bad character {c:?}"))),
        }
    }

    fn word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c == '_' || c.is_alphanumeric()))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    fn ident(&mut self) -> Result<(), TemplateError> {
        let word = self.word();
        self.pos += word.len();
        self.tokens.push(Token::Ident(word.to_string()));
        self.terminated()
    }

    /// `$` or `$name`, and the fields after it.
    fn variable(&mut self) -> Result<(), TemplateError> {
        self.pos += 1;
        let name = format!("${}", self.word());
        self.pos += name.len() - 1;
        let after = self.rest().strip_prefix('.');
        if after.is_some_and(|a| !a.starts_with(|c: char| c == '_' || c.is_alphanumeric())) {
            return Err(self.error("unexpected . after a term"));
        }
        let names = self.fields()?;
        self.tokens.push(Token::Variable(name, names));
        self.terminated()
    }

    /// `.` alone, or `.A.B...`.
    fn field(&mut self) -> Result<(), TemplateError> {
        let names = self.fields()?;
        self.tokens.push(Token::Field(names));
        self.terminated()
    }

    /// The names of a chain of fields (`.A.B`; none for `.` alone).
    fn fields(&mut self) -> Result<Vec<String>, TemplateError> {
        let mut names = Vec::new();
        while self.rest().starts_with('.') {
            let after = &self.rest()[1..];
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(self.error(outside(&format!("the number {}", self.number_text()))));
            }
            self.pos += 1;
            let word = self.word();
            if word.is_empty() {
                if !names.is_empty() {
                    return Err(self.error("unexpected . after a field"));
                }
                break;
            }
            self.pos += word.len();
            names.push(word.to_string());
        }
        Ok(names)
    }

    fn number_text(&self) -> &'a str {
        let rest = self.rest();
        let body = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        let end = body
            .find(|c: char| !(c == '_' || c == '.' || c.is_alphanumeric()))
            .unwrap_or(body.len());
        &rest[..rest.len() - body.len() + end]
    }

    /// Decimal integers only; Go's other number forms are refused.
    fn number(&mut self) -> Result<(), TemplateError> {
        let text = self.number_text();
        let digits = text.trim_start_matches(['+', '-']);
        if digits.is_empty() {
            return Err(self.error(format!("bad number syntax: {text:?}")));
        }
        let decimal = digits.bytes().all(|b| b.is_ascii_digit())
            && !(digits.len() > 1 && digits.starts_with('0'));
        if !decimal {
            return Err(self.error(outside(&format!("the number {text}"))));
        }
        let value = text
            .trim_start_matches('+')
            .parse::<i64>()
            .map_err(|_| self.error(format!("{text} overflows int")))?;
        self.pos += text.len();
        self.tokens.push(Token::Int(value));
        self.terminated()
    }

    fn char_literal(&self) -> String {
        let rest = self.rest();
        match rest[1..].find('\'') {
            Some(end) => format!("the character constant {}", &rest[..end + 2]),
            None => "character constants".to_string(),
        }
    }

    /// A `"..."` string with Go's escapes.
    fn quoted(&mut self) -> Result<(), TemplateError> {
        let mut value = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(self.error("unterminated quoted string"));
            };
            match c {
                '"' => {
                    self.pos += i + 1;
                    break;
                }
                '\n' => return Err(self.error("unterminated quoted string")),
                '\\' => value.push(self.escape(&mut chars)?),
                c => value.push(c),
            }
        }
        self.tokens.push(Token::Str(value));
        self.terminated()
    }

    fn escape(
        &self,
        chars: &mut impl Iterator<Item = (usize, char)>,
    ) -> Result<char, TemplateError> {
        let bad = || self.error("bad escape in quoted string");
        let (_, c) = chars.next().ok_or_else(bad)?;
        let mut hex = |n: usize| -> Result<char, TemplateError> {
            let digits: String = chars.take(n).map(|(_, c)| c).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(bad)
        };
        Ok(match c {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '"' => '"',
            // Go's \x is a byte; above 0x7f it would not be UTF-8 text.
            'x' => Some(hex(2)?).filter(char::is_ascii).ok_or_else(bad)?,
            'u' => hex(4)?,
            'U' => hex(8)?,
            _ => return Err(bad()),
        })
    }

    /// A `` `...` `` string: no escapes, carriage returns dropped (as
    /// strconv.Unquote does).
    fn raw(&mut self) -> Result<(), TemplateError> {
        let end = self.rest()[1..]
            .find('`')
            .ok_or_else(|| self.error("unterminated raw quoted string"))?;
        let value = self.rest()[1..end + 1].replace('\r', "");
        self.pos += end + 2;
        self.tokens.push(Token::Str(value));
        self.terminated()
    }
}

/// The message for something Go's text/template has and rko's does not.
pub fn outside(what: &str) -> String {
    format!(
        "{what} is outside the part of Go's text/template that rko supports \
         (if, with, range, else, end, break, continue, variables, pipelines, \
         and, or, not, eq, ne, lt, le, gt, ge, len, index, print, printf)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_split_from_text_with_trim_markers_applied() {
        let action = |source: &str, tokens: Vec<Token>| Item::Action {
            source: source.to_string(),
            tokens,
        };
        let cases = [
            (
                "a {{- .X -}} b",
                vec![
                    Item::Text("a".into()),
                    action("{{- .X -}}", vec![Token::Field(vec!["X".into()])]),
                    Item::Text("b".into()),
                ],
            ),
            ("{{-3}}", vec![action("{{-3}}", vec![Token::Int(-3)])]),
            ("x }}", vec![Item::Text("x }}".into())]),
            ("{{/* c */}}y", vec![Item::Text("y".into())]),
            (
                "{{ \"}}\" | len }}",
                vec![action(
                    "{{ \"}}\" | len }}",
                    vec![
                        Token::Str("}}".into()),
                        Token::Pipe,
                        Token::Ident("len".into()),
                    ],
                )],
            ),
            ("{{.}}", vec![action("{{.}}", vec![Token::Field(vec![])])]),
        ];
        for (text, want) in cases {
            assert_eq!(items(text).unwrap(), want, "{text:?}");
        }
    }
}
