//! `ko://` references in YAML, found and replaced in place: only the bytes
//! of each reference change; comments, quoting, indentation, anchors and
//! document markers stay as the author wrote them. Knows nothing of Go: the
//! caller says what each import path resolves to.

use crate::error::{Error, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};
use std::collections::BTreeMap;
use std::path::Path;

pub const PREFIX: &str = "ko://";

/// One `ko://` scalar in a YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KoRef {
    /// The import path, without `ko://`.
    pub import_path: String,
    /// Byte range of the scalar's own text (quotes included), tags and anchors excluded.
    pub start: usize,
    pub end: usize,
    pub style: ScalarStyle,
}

/// A YAML document's place in the text and its `metadata.labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub start: usize,
    pub end: usize,
    pub labels: BTreeMap<String, String>,
}

/// Everything `find` learns from one file.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub refs: Vec<KoRef>,
    pub documents: Vec<Document>,
}

/// Converts the parser's character indices to byte offsets, moving forward only.
struct Offsets<'a> {
    chars: std::str::CharIndices<'a>,
    char_index: usize,
    byte_index: usize,
    len: usize,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Offsets {
            chars: text.char_indices(),
            char_index: 0,
            byte_index: 0,
            len: text.len(),
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        while self.char_index < char_index {
            self.chars.next();
            self.char_index += 1;
            self.byte_index = self.chars.clone().next().map_or(self.len, |(b, _)| b);
        }
        self.byte_index
    }
}

/// Finds every `ko://` string scalar, and every document with its labels.
pub fn scan(text: &str, file: &Path) -> Result<Scan> {
    let mut scan = Scan::default();
    let mut offsets = Offsets::new(text);
    // Where we are inside the current document: the keys leading to it.
    let mut path: Vec<Frame> = Vec::new();
    let mut document: Option<Document> = None;
    for item in events(text) {
        let (event, span) = item.map_err(|e| {
            Error::at(
                file,
                e.marker().line(),
                e.marker().col() + 1,
                format!("invalid YAML: {}", e.info()),
            )
        })?;
        let start = offsets.byte(span.start.index());
        let end = offsets.byte(span.end.index());
        match event {
            Event::DocumentStart(_) => {
                let start = with_indentation(text, start);
                document = Some(Document {
                    start,
                    end: start,
                    labels: BTreeMap::new(),
                });
                path.clear();
            }
            Event::DocumentEnd => {
                if let Some(mut doc) = document.take() {
                    // The end marker (`...`, or the next `---`) is not the document's.
                    doc.end = start;
                    scan.documents.push(doc);
                }
            }
            Event::MappingStart(..) => {
                let key = take_key(&mut path);
                path.push(Frame::Mapping { key, pending: None });
            }
            Event::SequenceStart(..) => path.push(Frame::Sequence),
            Event::MappingEnd | Event::SequenceEnd => {
                path.pop();
                mark_value_done(&mut path);
            }
            Event::Alias(_) => mark_value_done(&mut path),
            Event::Scalar(value, style, _, _) => {
                let is_key = matches!(path.last(), Some(Frame::Mapping { pending: None, .. }));
                if let Some(found) = ko_ref(text, start..end, &value, style, file, &span)? {
                    scan.refs.push(found);
                }
                if is_key {
                    if let Some(Frame::Mapping { pending, .. }) = path.last_mut() {
                        *pending = Some(value.to_string());
                    }
                } else {
                    if let Some(doc) = document.as_mut() {
                        if let Some((label, value)) = label_at(&path, &value) {
                            doc.labels.insert(label, value);
                        }
                    }
                    mark_value_done(&mut path);
                }
            }
            _ => {}
        }
    }
    Ok(scan)
}

/// The parser's events for `text`. Its fast reader of a `&str` counts the
/// bytes, not the characters, of a directive's name and parameters
/// (saphyr-parser 0.3.4, `StrInput::fetch_while_is_yaml_non_space`), so
/// every position after `%ΌΌ` would be off; a line that may be such a
/// directive sends the text through its reader of characters instead.
fn events(
    text: &str,
) -> Box<dyn Iterator<Item = std::result::Result<(Event<'_>, Span), ScanError>> + '_> {
    let wide_directive = text
        .split(['\n', '\r'])
        .any(|line| line.starts_with('%') && !line.is_ascii());
    if wide_directive {
        Box::new(Parser::new_from_iter(text.chars()))
    } else {
        Box::new(Parser::new_from_str(text))
    }
}

/// Where a document's text starts, given its first token at `at`: the
/// start of that line when only indentation comes before it there, since
/// indentation is structure (`  a: 1` then `  b: 2` is one mapping).
fn with_indentation(text: &str, at: usize) -> usize {
    let line = text[..at].rfind('\n').map_or(0, |i| i + 1);
    if text[line..at].chars().all(|c| c == ' ' || c == '\t') {
        line
    } else {
        at
    }
}

/// The `ko://` reference a scalar event holds, located in `text`: the
/// event's `range` may start at an anchor or tag and, for a quoted scalar,
/// run on over a trailing comment, so the scalar's own text is found inside.
fn ko_ref(
    text: &str,
    range: std::ops::Range<usize>,
    value: &str,
    style: ScalarStyle,
    file: &Path,
    span: &saphyr_parser::Span,
) -> Result<Option<KoRef>> {
    let Some(import_path) = value.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    if import_path.is_empty() || import_path.contains(char::is_whitespace) {
        return Ok(None);
    }
    let source = &text[range.clone()];
    let at = quoted(value, style).and_then(|repr| {
        let offset = match style {
            ScalarStyle::Plain => source.rfind(repr.as_str()),
            _ => source.find(repr.as_str()),
        }?;
        Some((range.start + offset, repr.len()))
    });
    let Some((at, len)) = at else {
        return Err(Error::at(
            file,
            span.start.line(),
            span.start.col() + 1,
            "the ko:// value is written in a way rko cannot rewrite in place (escapes or a block scalar)",
        ));
    };
    Ok(Some(KoRef {
        import_path: import_path.to_string(),
        start: at,
        end: at + len,
        style,
    }))
}

enum Frame {
    /// `pending` is the key whose value comes next, if a key was read.
    Mapping {
        key: Option<String>,
        pending: Option<String>,
    },
    Sequence,
}

/// The key under which the next node sits, if its parent is a mapping.
fn take_key(path: &mut [Frame]) -> Option<String> {
    match path.last_mut() {
        Some(Frame::Mapping { pending, .. }) => pending.clone(),
        _ => None,
    }
}

fn mark_value_done(path: &mut [Frame]) {
    if let Some(Frame::Mapping { pending, .. }) = path.last_mut() {
        *pending = None;
    }
}

/// `(label, value)` when a scalar is a value of the document's `metadata.labels`.
fn label_at(path: &[Frame], value: &str) -> Option<(String, String)> {
    match path {
        [Frame::Mapping { key: None, .. }, Frame::Mapping {
            key: Some(metadata),
            ..
        }, Frame::Mapping {
            key: Some(labels),
            pending: Some(label),
        }] if metadata == "metadata" && labels == "labels" => {
            Some((label.clone(), value.to_string()))
        }
        _ => None,
    }
}

/// How a string is written in a given style; `None` for block styles.
fn quoted(value: &str, style: ScalarStyle) -> Option<String> {
    match style {
        ScalarStyle::Plain => Some(value.to_string()),
        ScalarStyle::SingleQuoted => Some(format!("'{}'", value.replace('\'', "''"))),
        ScalarStyle::DoubleQuoted if !value.contains(['"', '\\']) => Some(format!("\"{value}\"")),
        _ => None,
    }
}

/// One YAML input: a name for messages and its text.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub text: String,
}

/// A piece of output text and the references in it.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    refs: Vec<KoRef>,
}

/// The inputs, scanned (and narrowed to the selected documents), ready to
/// be rendered once the references are resolved.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pieces: Vec<Piece>,
}

/// Scans every input; with a selector, keeps only the documents whose
/// `metadata.labels` match it (each then stands alone in the output).
pub fn prepare(inputs: Vec<Input>, selector: Option<&Selector>) -> Result<Prepared> {
    let mut pieces = Vec::new();
    for input in inputs {
        let found = scan(&input.text, Path::new(&input.name))?;
        match selector {
            None => pieces.push(Piece {
                text: input.text,
                refs: found.refs,
            }),
            Some(selector) => {
                for doc in found
                    .documents
                    .iter()
                    .filter(|d| selector.matches(&d.labels))
                {
                    let refs = found
                        .refs
                        .iter()
                        .filter(|r| r.start >= doc.start && r.end <= doc.end)
                        .map(|r| KoRef {
                            start: r.start - doc.start,
                            end: r.end - doc.start,
                            ..r.clone()
                        })
                        .collect();
                    let mut text = input.text[doc.start..doc.end].to_string();
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    pieces.push(Piece { text, refs });
                }
            }
        }
    }
    Ok(Prepared { pieces })
}

impl Prepared {
    /// Every referenced import path, once each, in order of appearance.
    pub fn import_paths(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for r in self.pieces.iter().flat_map(|p| &p.refs) {
            if !seen.contains(&r.import_path) {
                seen.push(r.import_path.clone());
            }
        }
        seen
    }

    /// The import paths `resolved` has no entry for, in order of appearance.
    pub fn missing(&self, resolved: &BTreeMap<String, String>) -> Vec<String> {
        self.import_paths()
            .into_iter()
            .filter(|ip| !resolved.contains_key(ip))
            .collect()
    }

    /// Writes the output: each piece rewritten, pieces joined as a
    /// multi-document stream. Streams, so memory stays near the input's size.
    pub fn write(
        &self,
        resolved: &BTreeMap<String, String>,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let mut last_newline = true;
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                if !last_newline {
                    out.write_all(b"\n")?;
                }
                if !starts_with_marker(&piece.text) {
                    out.write_all(b"---\n")?;
                }
            }
            let mut cursor = 0;
            for r in &piece.refs {
                if let Some(reference) = resolved.get(&r.import_path) {
                    out.write_all(&piece.text.as_bytes()[cursor..r.start])?;
                    let text =
                        quoted(reference, r.style).expect("only inline styles are collected");
                    out.write_all(text.as_bytes())?;
                    cursor = r.end;
                }
            }
            out.write_all(&piece.text.as_bytes()[cursor..])?;
            last_newline = piece.text.ends_with('\n');
        }
        Ok(())
    }

    /// The output as a string, with the missing import paths (see [`write`](Self::write)).
    pub fn render(&self, resolved: &BTreeMap<String, String>) -> (String, Vec<String>) {
        let mut out = Vec::new();
        self.write(resolved, &mut out)
            .expect("writing to memory cannot fail");
        (
            String::from_utf8(out).expect("UTF-8 in, UTF-8 out"),
            self.missing(resolved),
        )
    }
}

/// Whether a document's text starts with the `---` that marks a document
/// (not `---x`, a scalar).
fn starts_with_marker(text: &str) -> bool {
    text.trim_start()
        .strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// A label selector as kubectl takes it: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

impl std::str::FromStr for Selector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let requirement = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            requirements.push(requirement);
        }
        if requirements.is_empty() {
            return Err(Error::invalid(format!("-l {s:?}: empty label selector")));
        }
        Ok(Selector(requirements))
    }
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        scan(text, Path::new("t.yaml"))
            .unwrap()
            .refs
            .iter()
            .map(|r| r.import_path.clone())
            .collect()
    }

    #[test]
    fn only_whole_ko_scalars_are_references() {
        let text = "# ko://in/comment\na: ko://x\nb: 'ko://y'\nc: \"ko://z\"\nd: [ko://w, 'ko://v']\ne: {f: \"ko://u\"}\ng: see ko://not/this\nh: |\n  ko://block\n---\n- &anc ko://t\n- *anc\n";
        assert_eq!(refs(text), ["x", "y", "z", "w", "v", "u", "t"]);
    }

    #[test]
    fn rewriting_keeps_style_and_everything_around() {
        let text = "a: ko://x # note\nb: 'ko://y'\r\nc: [\"ko://x\"]\n";
        let input = Input {
            name: "t.yaml".into(),
            text: text.into(),
        };
        let prepared = prepare(vec![input], None).unwrap();
        let map: BTreeMap<String, String> = [("x".to_string(), "r/x@sha256:1".to_string())].into();
        let (out, missing) = prepared.render(&map);
        assert_eq!(
            out,
            "a: r/x@sha256:1 # note\nb: 'ko://y'\r\nc: [\"r/x@sha256:1\"]\n"
        );
        assert_eq!(missing, ["y"]);
    }

    #[test]
    fn labels_are_read_per_document() {
        let text = "metadata:\n  name: a\n  labels:\n    app: web\n    tier: front\n---\nmetadata:\n  labels: {app: api}\n";
        let docs = scan(text, Path::new("t.yaml")).unwrap().documents;
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[0].labels.get("tier").map(String::as_str),
            Some("front")
        );
        assert_eq!(docs[1].labels.get("app").map(String::as_str), Some("api"));
        let selector: Selector = "app=web,tier!=back,!missing".parse().unwrap();
        assert!(selector.matches(&docs[0].labels));
        assert!(!selector.matches(&docs[1].labels));
    }

    /// Found by fuzzing (fuzz/, target resolve_yaml): a selected document
    /// whose first line is indented lost that indentation, and with it
    /// its structure.
    #[test]
    fn a_selected_document_keeps_the_indentation_of_its_first_line() {
        let cases = [
            "  a: ko://x\n  b: 2\n",
            "# head\n    - name: n\n      image: ko://x\n",
            "---\n  a: ko://x\n  b: 2\n...\n  c: 3\n  d: 4\n",
        ];
        let selector: Selector = "!missing".parse().unwrap();
        for text in cases {
            let input = Input {
                name: "t.yaml".into(),
                text: text.into(),
            };
            let prepared = prepare(vec![input], Some(&selector)).unwrap();
            let map: BTreeMap<String, String> =
                [("x".to_string(), "r/x@sha256:1".to_string())].into();
            let (out, missing) = prepared.render(&map);
            assert!(missing.is_empty(), "{text:?}");
            scan(&out, Path::new("out.yaml"))
                .unwrap_or_else(|e| panic!("{text:?} gave {out:?}, not YAML: {e}"));
        }
    }

    /// Found by fuzzing (fuzz/, target resolve_yaml): a document whose
    /// text starts with `---` that is no marker (`---x: 1`) was joined to
    /// the one before it.
    #[test]
    fn selected_documents_stay_apart() {
        let selector: Selector = "!missing".parse().unwrap();
        for text in [
            "a: 1\n...\n---x: ko://x\n",
            "e\n...\n---:\n",
            ":\n...\n---F\n",
        ] {
            let input = Input {
                name: "t.yaml".into(),
                text: text.into(),
            };
            let prepared = prepare(vec![input], Some(&selector)).unwrap();
            let (out, _) = prepared.render(&BTreeMap::new());
            let scanned = scan(&out, Path::new("out.yaml"))
                .unwrap_or_else(|e| panic!("{text:?} gave {out:?}, not YAML: {e}"));
            assert_eq!(scanned.documents.len(), 2, "{text:?} gave {out:?}");
        }
    }

    /// Found by fuzzing (fuzz/, target resolve_yaml): after a directive
    /// holding characters of more than one byte, offsets were off.
    #[test]
    fn references_after_a_directive_of_any_characters_are_found() {
        let text = "%\u{3ac}\u{3ac}\n---\na: ko://x\n";
        let input = Input {
            name: "t.yaml".into(),
            text: text.into(),
        };
        let prepared = prepare(vec![input.clone()], None).unwrap();
        let map: BTreeMap<String, String> = [("x".to_string(), "r/x@sha256:1".to_string())].into();
        assert_eq!(
            prepared.render(&map).0,
            "%\u{3ac}\u{3ac}\n---\na: r/x@sha256:1\n"
        );
        let selector: Selector = "!missing".parse().unwrap();
        let selected = prepare(vec![input], Some(&selector)).unwrap();
        assert_eq!(selected.render(&map).0, "---\na: r/x@sha256:1\n");
    }

    #[test]
    fn invalid_yaml_names_file_line_and_column() {
        let err = scan("a: [b\nc: d", Path::new("bad.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.yaml:2:"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A `ko://` reference written plain, single- or double-quoted.
        fn reference() -> impl Strategy<Value = String> {
            ("[a-z]{1,8}(/[a-z0-9]{1,6}){0,3}", 0..3usize).prop_map(|(path, style)| match style {
                0 => format!("ko://example.com/{path}"),
                1 => format!("'ko://example.com/{path}'"),
                _ => format!("\"ko://example.com/{path}\""),
            })
        }

        /// A value: a reference, another scalar, or a flow list of them.
        fn value() -> impl Strategy<Value = String> {
            let scalar = prop_oneof![
                reference(),
                "[a-z0-9 ]{0,12}".prop_map(|s| format!("'{s}'"))
            ];
            prop_oneof![
                scalar.clone(),
                prop::collection::vec(scalar, 1..4).prop_map(|v| format!("[{}]", v.join(", "))),
            ]
        }

        /// Kubernetes-shaped YAML: documents of `key: value` lines, some
        /// nested, some with comments, separated by `---`.
        fn yaml() -> impl Strategy<Value = String> {
            let line = ("[a-z]{1,6}", value(), any::<bool>(), any::<bool>()).prop_map(
                |(key, value, nested, comment)| {
                    let comment = if comment { " # ko://not/this" } else { "" };
                    if nested {
                        format!("{key}:\n  inner: {value}{comment}\n")
                    } else {
                        format!("{key}: {value}{comment}\n")
                    }
                },
            );
            let document = prop::collection::vec(line, 1..6).prop_map(|lines| {
                // Keys must be unique within a mapping.
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("k{i}{l}"))
                    .collect::<String>()
            });
            prop::collection::vec(document, 1..4).prop_map(|docs| docs.join("---\n"))
        }

        fn render(text: &str, map: impl Fn(&str) -> String) -> String {
            let input = Input {
                name: "p.yaml".into(),
                text: text.into(),
            };
            let prepared = prepare(vec![input], None).unwrap();
            let resolved = prepared
                .import_paths()
                .into_iter()
                .map(|ip| {
                    let to = map(&ip);
                    (ip, to)
                })
                .collect();
            prepared.render(&resolved).0
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn scanning_any_text_never_panics(text in any::<String>()) {
                let _ = scan(&text, Path::new("p.yaml"));
            }

            #[test]
            fn scanning_yaml_like_text_never_panics(text in "[-a-z:'\"#&*!|>\\[\\]{}, \n]{0,200}") {
                let _ = scan(&text, Path::new("p.yaml"));
            }

            #[test]
            fn resolving_each_reference_to_itself_changes_no_byte(text in yaml()) {
                prop_assert_eq!(render(&text, |ip| format!("{PREFIX}{ip}")), text);
            }

            #[test]
            fn resolved_yaml_holds_the_references_and_nothing_else_changes(text in yaml()) {
                let out = render(&text, |ip| format!("r.io/{}@sha256:{}", ip.replace('.', "-"), "a".repeat(64)));
                // What was a ko:// value is now the reference; the rest is as written.
                let scanned = scan(&out, Path::new("p.yaml")).unwrap();
                prop_assert!(scanned.refs.is_empty(), "left unresolved: {out}");
                prop_assert_eq!(
                    out.matches("@sha256:").count(),
                    text.matches("ko://example.com/").count()
                );
            }
        }
    }
}
