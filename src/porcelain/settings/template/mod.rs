//! `.ko.yaml`'s templates, as ko runs them: Go's text/template with
//! `missingkey=error` and no functions beyond Go's own (ko's
//! pkg/build/gobuild.go `applyTemplating`): text, `{{if}}`, `{{with}}` and
//! `{{range}}` with their `{{else}}` (and `{{else if}}`, `{{else with}}`),
//! `{{break}}`, `{{continue}}`, variables (`$x := ...`, `$x = ...`, `$`),
//! `{{- -}}` trimming, comments, pipelines, parentheses,
//! string/integer/boolean literals, fields of the data (`.Env`, `.GoEnv`,
//! `.Git`, `.Date`, `.Timestamp`) and the functions `and or not eq ne lt
//! le gt ge len index print printf`. Anything else Go has (`define`,
//! `template`, `block`, `html`, ...) is refused with a message naming it,
//! never passed through as text.

mod data;
mod exec;
mod lex;
mod parse;
mod printf;
mod value;

pub use data::{GitInfo, Needs, TemplateData, Templating};
pub use value::{Map, Value};

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// A template that parsed.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

/// What is wrong with a template: the action at fault and why.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub action: String,
    pub message: String,
}

impl TemplateError {
    pub fn new(action: impl Into<String>, message: impl Into<String>) -> Self {
        TemplateError {
            action: action.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action, self.message)
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            nodes: parse::parse(lex::items(text)?)?,
        })
    }

    /// The text the template prints for `data`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        exec::execute(&self.nodes, data, &mut exec::Vars::new(data), &mut out)?;
        Ok(out)
    }

    /// Whether the template reads the top-level field `name` (or the whole
    /// data, `.`), so that costly data is gathered only when asked for.
    pub fn reads(&self, name: &str) -> bool {
        parse::reads(&self.nodes, name)
    }
}

/// Where a templated value comes from: `.ko.yaml` and its key
/// (`builds[0].ldflags`), or a flag (`--ldflags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: Option<PathBuf>,
    pub key: String,
}

impl Origin {
    /// A key of the `.ko.yaml` at `file`.
    pub fn file(file: impl Into<PathBuf>, key: impl Into<String>) -> Origin {
        Origin {
            file: Some(file.into()),
            key: key.into(),
        }
    }

    /// A command-line flag.
    pub fn flag(flag: impl Into<String>) -> Origin {
        Origin {
            file: None,
            key: flag.into(),
        }
    }

    /// An error about the value from here: `message` after the file and key.
    pub fn invalid(&self, message: impl fmt::Display) -> Error {
        let message = format!("{}: {message}", self.key);
        match &self.file {
            Some(file) => Error::file(file, message),
            None => Error::invalid(message),
        }
    }

    /// The error for `text`, from here, that `e` describes.
    pub fn error(&self, text: &str, e: TemplateError) -> Error {
        let mut message = format!(
            "{}: bad template {} in {text:?}: {}",
            self.key, e.action, e.message
        );
        if e.message.starts_with("map has no entry") && e.action.contains(".Env.") {
            message.push_str(
                " (ko's templates fail on an unset variable: \
                 {{index .Env \"NAME\"}} reads one that may be unset as \"\")",
            );
        }
        match &self.file {
            Some(file) => Error::file(file, message),
            None => Error::invalid(message),
        }
    }

    /// `text` parsed, or the error naming where it came from.
    pub fn parse(&self, text: &str) -> Result<Template> {
        Template::parse(text).map_err(|e| self.error(text, e))
    }
}

/// Renders `text` from `origin` with `data`.
pub fn render(text: &str, data: &Value, origin: &Origin) -> Result<String> {
    origin
        .parse(text)?
        .execute(data)
        .map_err(|e| origin.error(text, e))
}

#[cfg(test)]
mod tests {
    use super::data::{GitInfo, TemplateData};
    use super::*;

    /// What Go's text/template says of a template, as ko runs it.
    enum Go {
        /// Go renders this; rko must render the same.
        Renders(&'static str),
        /// Go fails too; rko's message contains this.
        Fails(&'static str),
        /// Go renders it, but it is outside the subset rko implements:
        /// rko refuses it with a message containing this, never a literal.
        Refused(&'static str),
    }

    /// Templates against the output of Go 1.23's text/template run as ko's
    /// pkg/build/gobuild.go `applyTemplating` runs it
    /// (`template.New("argsTmpl").Option("missingkey=error").Parse`, no
    /// extra functions registered), on `go_data()`. The expected strings
    /// were produced by that Go program, not written by hand.
    const GO_CASES: &[(&str, Go)] = &[
        ("-X main.version={{.Env.VERSION}}", Go::Renders("-X main.version=1.2.3")),
        ("{{ .Git.ShortCommit }}-{{.Timestamp}}", Go::Renders("abc1234-1700000000")),
        ("{{- .Date -}}", Go::Renders("2023-11-14T22:13:20Z")),
        ("a {{- \" b \" -}} c", Go::Renders("a b c")),
        ("a\n\t {{- \"b\" -}} \n c", Go::Renders("abc")),
        ("{{if eq .Env.GOARCH \"arm64\"}}-X main.arm=1{{else if eq .Env.GOARCH \"amd64\"}}-X main.x86=1{{else}}-X main.other=1{{end}}", Go::Renders("-X main.arm=1")),
        ("{{if eq .Env.GOARCH \"amd64\"}}-X main.x86=1{{else if eq .Env.GOARCH \"arm64\"}}-X main.arm=1{{else}}-X main.other=1{{end}}", Go::Renders("-X main.arm=1")),
        ("{{if eq .Env.GOARCH \"s390x\"}}a{{else if eq .Env.GOARCH \"amd64\"}}b{{else}}c{{end}}", Go::Renders("c")),
        ("{{if ne .GoEnv.GOOS \"linux\"}}x{{else}}y{{end}}", Go::Renders("y")),
        ("{{if and (eq .Env.GOOS \"linux\") (not .Git.IsDirty)}}clean-linux{{end}}", Go::Renders("clean-linux")),
        ("{{or (index .Env \"UNSET\") \"fallback\"}}", Go::Renders("fallback")),
        ("{{index .Env \"VERSION\"}}", Go::Renders("1.2.3")),
        ("{{printf \"%s-%d\" .Git.Tag .Timestamp}}", Go::Renders("v1.0.0-1700000000")),
        ("{{printf \"%q\" .Env.VERSION}}", Go::Renders("\"1.2.3\"")),
        ("{{.Env.VERSION | printf \"v%s\"}}", Go::Renders("v1.2.3")),
        ("{{if .Git.IsClean}}clean{{end}}", Go::Renders("clean")),
        ("{{.Git.IsDirty}} {{.Git.CommitTimestamp}} {{.Git.TreeState}} {{.Git.CommitDate}}", Go::Renders("false 1699999999 clean 2023-11-14T22:13:19Z")),
        ("{{/* a comment */}}x", Go::Renders("x")),
        ("a {{- /* c */ -}} b", Go::Renders("ab")),
        ("{{if eq .Env.GOARCH \"arm\" \"arm64\"}}arm{{end}}", Go::Renders("arm")),
        ("{{eq .Timestamp 1700000000}}", Go::Renders("true")),
        ("{{len .Env.VERSION}}", Go::Renders("5")),
        ("{{and 1 0 \"x\"}}", Go::Renders("0")),
        ("{{or \"\" \"b\"}}", Go::Renders("b")),
        ("{{not \"\"}}", Go::Renders("true")),
        ("{{printf \"%5s|%-5s|%05d|%3d\" \"a\" \"b\" 42 7}}", Go::Renders("    a|b    |00042|  7")),
        ("{{print \"a\" 1 2 \"b\"}}", Go::Renders("a1 2b")),
        ("{{lt .Timestamp 2000000000}} {{ge .Env.GOARCH \"amd64\"}} {{le 1 1}} {{gt 1 2}}", Go::Renders("true true true false")),
        ("{{`raw \\n`}}", Go::Renders("raw \\n")),
        ("{{\"a\\tb\\u00e9\\\"\\\\\"}}", Go::Renders("a\tb\u{e9}\"\\")),
        ("{{if .Git.IsClean}}{{if eq .Env.GOOS \"linux\"}}L{{else}}O{{end}}{{end}}", Go::Renders("L")),
        ("{{.GoEnv.GOVERSION}}", Go::Renders("go1.23.1")),
        ("{{printf \"%v %t %x %X %x %%\" .Git.IsDirty true \"hi\" 255 255}}", Go::Renders("false true 6869 FF ff %")),
        ("{{ if (eq .Env.GOARCH \"amd64\") }}y{{ end }}", Go::Renders("")),
        ("{{index .Git \"Tag\"}}", Go::Renders("v1.0.0")),
        ("{{-3}}", Go::Renders("-3")),
        ("{{if false -}} a {{- else -}} b {{- end}}", Go::Renders("b")),
        ("{{printf \"%s}}\" \"a\"}}", Go::Renders("a}}")),
        ("{{ .Env.VERSION | len }}", Go::Renders("5")),
        ("{{\"a\" | eq \"a\"}}", Go::Renders("true")),
        ("x }}", Go::Renders("x }}")),
        ("{{.Env.LDFLAGS}}|{{.Env.CGO_ENABLED}}", Go::Renders("|0")),
        ("{{printf \"%d\" .Git.CommitTimestamp}}", Go::Renders("1699999999")),
        ("{{if .Env.LDFLAGS}}set{{else}}empty{{end}}", Go::Renders("empty")),
        ("{{print .Git.IsDirty 1}}", Go::Renders("false 1")),
        ("{{printf \"%v\" .Timestamp}}", Go::Renders("1700000000")),
        ("{{and .Git.IsClean (eq .Env.GOOS \"linux\")}}", Go::Renders("true")),
        ("{{or .Git.IsDirty 0}}", Go::Renders("0")),
        ("{{not .Git.IsDirty}}", Go::Renders("true")),
        ("{{if or (eq .Env.GOARCH \"amd64\") (eq .Env.GOARCH \"arm64\")}}64{{end}}", Go::Renders("64")),
        ("{{printf \"%08.3s|\" \"abcdef\"}}", Go::Renders("00000abc|")),
        ("{{.Env.GOOS | printf \"%s-%s\" \"a\"}}", Go::Renders("a-linux")),
        ("{{ .Git.Tag}}{{-  \"x\"}}", Go::Renders("v1.0.0x")),
        ("{{ eq 1 1 | not }}", Go::Renders("false")),
        ("{{ true }} {{ false }}", Go::Renders("true false")),
        ("{{ (1) }}", Go::Renders("1")),
        ("{{and false .Env.MISSING}}", Go::Renders("false")),
        ("{{or true .Nope}}", Go::Renders("true")),
        ("{{if false}}{{.Env.MISSING}}{{end}}", Go::Renders("")),
        ("{{eq .Git.IsDirty false}}", Go::Renders("true")),
        ("{{eq 1 1 \"a\"}}", Go::Renders("true")),
        ("{{index . \"Env\" \"GOOS\"}}", Go::Renders("linux")),
        ("{{len .Env}}", Go::Renders("5")),
        ("{{print}}|{{print \"\"}}", Go::Renders("|")),
        ("{{printf \"%s\" (index .Env \"NOPE\")}}|", Go::Renders("|")),
        ("{{printf \"%-6d|%6v|%-4t|\" 42 \"ab\" true}}", Go::Renders("42    |    ab|true|")),
        ("{{printf \"%q\" \"a\\n\\u0001\u{e9}\\\"\"}}", Go::Renders("\"a\\n\\x01\u{e9}\\\"\"")),
        ("{{printf \"%.2s\" \"h\u{e9}llo\"}}", Go::Renders("h\u{e9}")),
        ("{{.Timestamp | printf \"%d\"}}", Go::Renders("1700000000")),
        ("{{if .Env}}m{{end}}", Go::Renders("m")),
        ("{{if 0}}a{{else}}b{{end}}", Go::Renders("b")),
        ("{{- if true }} a {{ end -}}", Go::Renders(" a ")),
        ("{{ eq \"a\" \"a\" | printf \"%v\" }}", Go::Renders("true")),
        ("{{.Env.GOOS -}}", Go::Renders("linux")),
        ("{{ index .Env \"GOOS\" | len }}", Go::Renders("5")),
        ("{{ len \"\u{e9}\" }}", Go::Renders("2")),
        ("{{ printf \"%x\" \"\u{e9}\" }}", Go::Renders("c3a9")),
        ("{{ printf \"%5.1s|\" \"ab\" }}", Go::Renders("    a|")),
        ("{{ printf \"%-05d|\" 3 }}", Go::Renders("3    |")),
        ("{{ printf \"%05d|%05s|\" -3 \"-3\" }}", Go::Renders("-0003|000-3|")),
        ("{{ printf \"%X\" \"hi\" }}", Go::Renders("6869")),
        ("{{ printf \"%+d %x\" 5 -255 }}", Go::Renders("+5 -ff")),
        ("{{ .Git.IsDirty | not }}", Go::Renders("true")),
        ("{{ not .Git.IsDirty | and true }}", Go::Renders("true")),
        ("{{ (index .Env \"GOOS\") }}", Go::Renders("linux")),
        ("{{ and (index .Env \"NOPE\") .Env.NOPE }}", Go::Renders("")),
        ("{{ printf \"%d\" 9223372036854775807 }}", Go::Renders("9223372036854775807")),
        ("{{ printf \"%05t|%05v|%05x|%05q|%-5q|%5q|%05X\" true -3 -255 \"a\" \"b\" \"c\" \"hi\" }}", Go::Renders("0true|-0003|-00ff|00\"a\"|\"b\"  |  \"c\"|06869")),
        ("{{ printf \"%+05d|%+d|%-+5d|\" 3 -3 3 }}", Go::Renders("+0003|-3|+3   |")),
        ("{{ printf \"%.1q|%3.1s|\" \"abc\" \"xyz\" }}", Go::Renders("\"a\"|  x|")),
        ("{{ printf \"%6.2v|\" \"abcdef\" }}", Go::Renders("    ab|")),
        ("{{ printf \"%q\" \"\\t\\u007f\\u0080\\u00a0\\u2028\" }}", Go::Renders("\"\\t\\x7f\\u0080\\u00a0\\u2028\"")),
        ("{{ printf \"%5s|\" \"\u{e9}\" }}", Go::Renders("    \u{e9}|")),
        ("{{ printf \"%-00d|%00005d|%+0d|%3%\" 3 3 0 }}", Go::Renders("3|00003|+0|%")),
        ("{{.Git.Tag|}}", Go::Renders("v1.0.0")),
        ("{{and false (\"a\" len)}}", Go::Renders("false")),
        // range, with, break, continue and variables (Go 1.26's text/template).
        ("{{ $g := \"none\" }}{{ with .Env.VERSION }}{{ $g = . }}{{ end }}-X main.greeting={{ $g }}{{ range $k, $v := .Env }}{{ if eq $k \"GOOS\" }}-{{ $v }}{{ end }}{{ end }}", Go::Renders("-X main.greeting=1.2.3-linux")),
        ("{{range .Env}}[{{.}}]{{end}}", Go::Renders("[0][arm64][linux][][1.2.3]")),
        ("{{range $k, $v := .GoEnv}}{{$k}}={{$v}};{{end}}", Go::Renders("CGO_ENABLED=0;GOARCH=arm64;GOOS=linux;GOVERSION=go1.23.1;")),
        ("{{range $v := .GoEnv}}{{$v}},{{end}}", Go::Renders("0,arm64,linux,go1.23.1,")),
        ("{{range 3}}{{.}}{{end}}", Go::Renders("012")),
        ("{{range $i := 3}}{{$i}}{{end}}", Go::Renders("012")),
        ("{{range 0}}x{{else}}empty{{end}}", Go::Renders("empty")),
        ("{{range -2}}x{{else}}neg{{end}}", Go::Renders("neg")),
        ("{{range .Git}}{{.}} {{end}}", Go::Renders("main 2023-11-14T22:13:19Z 1699999999 abc1234def5678 true false abc1234 v1.0.0 clean ")),
        ("{{range $k, $v := .Env}}{{if eq $k \"GOOS\"}}{{break}}{{end}}{{$k}},{{end}}", Go::Renders("CGO_ENABLED,GOARCH,")),
        ("{{range $k, $v := .Env}}{{if eq $k \"GOARCH\"}}{{continue}}{{end}}{{$k}},{{end}}", Go::Renders("CGO_ENABLED,GOOS,LDFLAGS,VERSION,")),
        ("{{range .Env}}{{else}}none{{end}}", Go::Renders("")),
        ("{{range $k, $v := .Env}}{{$.Git.Tag}}{{end}}", Go::Renders("v1.0.0v1.0.0v1.0.0v1.0.0v1.0.0")),
        ("{{with .Env.VERSION}}v{{.}}{{end}}", Go::Renders("v1.2.3")),
        ("{{with .Env.LDFLAGS}}set{{else}}unset{{end}}", Go::Renders("unset")),
        ("{{with .Env.LDFLAGS}}a{{else with .Env.GOOS}}b{{.}}{{else}}c{{end}}", Go::Renders("blinux")),
        ("{{with $x := .Git.Tag}}{{$x}}-{{.}}{{end}}", Go::Renders("v1.0.0-v1.0.0")),
        ("{{with .Git}}{{.Tag}}{{$.Timestamp}}{{end}}", Go::Renders("v1.0.01700000000")),
        ("{{with 0}}x{{else}}y{{end}}", Go::Renders("y")),
        ("{{with .Git.IsClean}}{{.}}{{end}}", Go::Renders("true")),
        ("{{$x := 1}}{{$x}}", Go::Renders("1")),
        ("{{ $x:=1 }}{{$x}}", Go::Renders("1")),
        ("{{$1 := 5}}{{$1}}", Go::Renders("5")),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", Go::Renders("2")),
        ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", Go::Renders("21")),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", Go::Renders("2")),
        ("{{if $x := .Env.GOOS}}{{$x}}{{end}}", Go::Renders("linux")),
        ("{{$.Env.GOOS}}", Go::Renders("linux")),
        ("{{$x := .Env}}{{$x.GOOS}}", Go::Renders("linux")),
        ("{{$x := .Env}}{{index $x \"GOARCH\"}}", Go::Renders("arm64")),
        ("{{$x := \"a\"}}{{$x | printf \"%s-b\"}}", Go::Renders("a-b")),
        ("{{$x := 0}}{{range $k, $v := .Env}}{{$x = $k}}{{end}}{{$x}}", Go::Renders("VERSION")),
        ("{{$k := \"\"}}{{$v := \"\"}}{{range $k, $v = .GoEnv}}{{end}}{{$k}}={{$v}}", Go::Renders("GOVERSION=go1.23.1")),
        ("{{$e := \"\"}}{{range $e = .GoEnv}}{{end}}{{$e}}", Go::Renders("go1.23.1")),
        ("{{$x := (print 1)}}{{$x}}", Go::Renders("1")),
        ("{{ $g := \"none\" }}{{ with .Env.GREETING }}{{ $g = . }}{{ end }}", Go::Fails("map has no entry for key \"GREETING\"")),
        ("{{range $i, $e := 3}}{{$i}}{{end}}", Go::Fails("can't use 3 to iterate over more than one variable")),
        ("{{range .Env.VERSION}}x{{end}}", Go::Fails("range can't iterate over 1.2.3")),
        ("{{range $i, $e := .Git.IsDirty}}{{end}}", Go::Fails("range can't iterate over false")),
        ("{{if true}}{{continue}}{{end}}", Go::Fails("{{continue}} outside {{range}}")),
        ("{{range .Env}}{{break 1}}{{end}}", Go::Fails("in {{break}}")),
        ("{{with .Env.LDFLAGS}}a{{else if .Env.GOOS}}b{{end}}", Go::Fails("unexpected if")),
        ("{{if .Env.LDFLAGS}}a{{else with .Env.GOOS}}b{{end}}", Go::Fails("unexpected with")),
        ("{{$x}}", Go::Fails("undefined variable \"$x\"")),
        ("{{$x = 1}}", Go::Fails("undefined variable: $x")),
        ("{{range $k, $v = .Env}}{{end}}", Go::Fails("undefined variable: $k")),
        ("{{if true}}{{$y := 1}}{{end}}{{$y}}", Go::Fails("undefined variable \"$y\"")),
        ("{{range $k, $v := .Env}}{{$k}}{{end}}{{$k}}", Go::Fails("undefined variable \"$k\"")),
        ("{{range $k, $v := .Env}}{{$x := $k}}{{end}}{{$x}}", Go::Fails("undefined variable \"$x\"")),
        ("{{with $x, $y := .Env}}{{end}}", Go::Fails("too many declarations in with")),
        ("{{range $a, $b, $c := .Env}}{{end}}", Go::Fails("too many declarations in range")),
        ("{{$x := 1 2}}", Go::Fails("can't give argument to non-function 1")),
        ("{{$x := 3}}{{$x.A}}", Go::Fails("can't evaluate field A in type int")),
        ("{{with}}{{end}}", Go::Fails("missing value for with")),
        ("{{range}}{{end}}", Go::Fails("missing value for range")),
        ("{{range .Env}}", Go::Fails("unexpected EOF")),
        ("{{with .Env}}x{{else}}y{{else}}z{{end}}", Go::Fails("found {{else}}")),
        ("{{.Env.MISSING}}", Go::Fails("map has no entry for key \"MISSING\"")),
        ("{{.GoEnv.MISSING}}", Go::Fails("map has no entry for key \"MISSING\"")),
        ("{{.Nope}}", Go::Fails("map has no entry for key \"Nope\"")),
        ("{{.Git.Nope}}", Go::Fails("map has no entry for key \"Nope\"")),
        ("{{ or (index .Env \"NOPE\") .Env.NOPE }}", Go::Fails("map has no entry for key \"NOPE\"")),
        ("{{.Env.GOOS.}}", Go::Fails("unexpected . after a field")),
        ("{{or `r`.Timestamp}}", Go::Fails("unexpected . after a term")),
        ("{{foo}}", Go::Fails("function \"foo\" not defined")),
        ("{{if false}}{{foo}}{{end}}", Go::Fails("function \"foo\" not defined")),
        ("{{if}}x{{end}}", Go::Fails("missing value for if")),
        ("{{if eq .Env.GOOS \"linux\"}}{{else if}}{{end}}", Go::Fails("missing value for if")),
        ("{{if true}}x", Go::Fails("no {{end}}")),
        ("{{end}}", Go::Fails("unexpected {{end}}")),
        ("{{else}}", Go::Fails("unexpected {{else}}")),
        ("{{if .Env.VERSION}}{{else}}{{else}}{{end}}", Go::Fails("expected {{end}}")),
        ("{{.Date", Go::Fails("unclosed action")),
        ("{{\"unterminated}}", Go::Fails("unterminated quoted string")),
        ("{{/* unclosed }}", Go::Fails("unclosed comment")),
        ("{{/* c */-}}", Go::Fails("comment ends before closing delimiter")),
        ("{{-/* c */}}", Go::Fails("bad number")),
        ("{{.Env.GOOS- }}", Go::Fails("bad character")),
        ("{{ .Env.GOOS}}{{\"x\"-}}", Go::Fails("bad character")),
        ("{{ \"a\\q\" }}", Go::Fails("bad escape")),
        ("{{ () }}", Go::Fails("missing value for parenthesized pipeline")),
        ("{{eq .Timestamp \"x\"}}", Go::Fails("incompatible types for comparison")),
        ("{{eq .Env.GOOS .Git.IsDirty}}", Go::Fails("incompatible types for comparison")),
        ("{{eq 1 \"a\" 1}}", Go::Fails("incompatible types for comparison")),
        ("{{lt 1 \"a\"}}", Go::Fails("incompatible types for comparison")),
        ("{{ lt true false }}", Go::Fails("invalid type for comparison")),
        ("{{ eq .Env .Env }}", Go::Fails("non-comparable type")),
        ("{{.Env.VERSION.X}}", Go::Fails("can't evaluate field X in type string")),
        ("{{ .Git.IsDirty.X }}", Go::Fails("can't evaluate field X in type bool")),
        ("{{index .Env \"A\" \"B\"}}", Go::Fails("index of a string is outside")),
        ("{{index .Timestamp 0}}", Go::Fails("can't index item of type int")),
        ("{{index .Env 3}}", Go::Fails("value has type int; should be string")),
        ("{{len 3}}", Go::Fails("len of type int")),
        ("{{nil}}", Go::Fails("nil is not a command")),
        ("{{printf}}", Go::Fails("wrong number of args for printf: want at least 1 got 0")),
        ("{{not 1 2}}", Go::Fails("wrong number of args for not: want 1 got 2")),
        ("{{ne 1 2 3}}", Go::Fails("wrong number of args for ne: want 2 got 3")),
        ("{{and}}", Go::Fails("wrong number of args for and: want at least 1 got 0")),
        ("{{ eq }}", Go::Fails("wrong number of args for eq: want at least 1 got 0")),
        ("{{ eq 1 }}", Go::Fails("missing argument for comparison")),
        ("{{ \"a\" \"b\" }}", Go::Fails("can't give argument to non-function \"a\"")),
        ("{{ .Env.GOOS \"b\" }}", Go::Fails("can't give argument to non-function .Env.GOOS")),
        ("{{\"a\" | .Env.GOOS}}", Go::Fails("can't give argument to non-function .Env.GOOS")),
        ("{{ 9223372036854775808 }}", Go::Fails("overflows int")),
        ("{{break}}", Go::Fails("{{break}} outside {{range}}")),
        ("{{template \"x\"}}", Go::Fails("template")),
        ("{{$}}", Go::Refused("prints a map")),
        ("{{range .Env}}{{$}}{{end}}", Go::Refused("prints a map")),
        ("{{html \"<\"}}", Go::Refused("html is outside")),
        // Go's fmt stops reading a width or precision past 10^6 and prints
        // %!(NOVERB); rko ran out of memory making one of 2^64 spaces.
        ("{{printf \"%99999999999999999999d|\" 1}}", Go::Refused("printf width or precision")),
        ("{{printf \"%12345678s|\" \"a\"}}", Go::Refused("printf width or precision")),
        ("{{printf \"%.99999999999s|\" \"abc\"}}", Go::Refused("printf width or precision")),
        ("{{len (printf \"%10000000d\" 1)}}", Go::Renders("10000000")),
        ("{{slice \"abc\" 1}}", Go::Refused("slice is outside")),
        ("{{ println 1 }}", Go::Refused("println is outside")),
        ("{{ 1.5 }}", Go::Refused("1.5 is outside")),
        ("{{ 'a' }}", Go::Refused("'a' is outside")),
        ("{{ 0x10 }}", Go::Refused("0x10 is outside")),
        ("{{ 010 }}", Go::Refused("010 is outside")),
        ("{{(index .Env \"GOOS\").X}}", Go::Refused("a field of a parenthesized pipeline is outside")),
        ("{{- index \"NOPE\" 0 -}}", Go::Refused("index of a string is outside")),
        ("{{.}}", Go::Refused("prints a map")),
        ("{{.Env}}", Go::Refused("prints a map")),
        ("{{ index .Env }}", Go::Refused("prints a map")),
        ("{{ printf \"%v\" .Env }}", Go::Refused("prints a map")),
        ("{{index .Git \"Nope\"}}", Go::Refused("prints no value")),
        ("{{printf \"%s\" 1}}", Go::Refused("%s of int")),
        ("{{printf \"%d\" \"x\"}}", Go::Refused("%d of string")),
        ("{{ printf \"%s\" .Git.IsDirty }}", Go::Refused("%s of bool")),
        ("{{printf \"%s\" .Env.VERSION \"extra\"}}", Go::Refused("more arguments than verbs")),
        ("{{printf \"%s\"}}", Go::Refused("missing an argument")),
        ("{{printf \"%z\" 1}}", Go::Refused("%z is outside")),
        ("{{ printf \"%c\" 65 }}", Go::Refused("%c is outside")),
        ("{{ printf \"%[1]s\" \"a\" }}", Go::Refused("%[ is outside")),
        ("{{ printf \"%*d\" 3 1 }}", Go::Refused("%* is outside")),
        ("{{ printf \"%+v|%+s\" 3 \"a\" }}", Go::Refused("+ is outside")),
        ("{{ printf \"%\" }}", Go::Refused("ends with %")),
    ];

    /// The data of the Go program that produced `GO_CASES`.
    fn go_data() -> Value {
        let env = [
            ("LDFLAGS", ""),
            ("GOOS", "linux"),
            ("GOARCH", "arm64"),
            ("VERSION", "1.2.3"),
            ("CGO_ENABLED", "0"),
        ];
        let go_env = [
            ("GOOS", "linux"),
            ("GOARCH", "arm64"),
            ("GOVERSION", "go1.23.1"),
            ("CGO_ENABLED", "0"),
        ];
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        TemplateData {
            env: map(&env),
            go_env: map(&go_env),
            git: GitInfo {
                branch: "main".into(),
                tag: "v1.0.0".into(),
                short_commit: "abc1234".into(),
                full_commit: "abc1234def5678".into(),
                commit_time: Some(1_699_999_999),
                dirty: false,
            },
            date: "2023-11-14T22:13:20Z".into(),
            timestamp: 1_700_000_000,
        }
        .value()
    }

    #[test]
    fn templates_render_as_go_text_template_renders_them_for_ko() {
        let mut wrong = Vec::new();
        for (text, go) in GO_CASES {
            let origin = Origin::file("/m/.ko.yaml", "builds[0].ldflags");
            let got = render(text, &go_data(), &origin);
            let ok = match (&got, go) {
                (Ok(out), Go::Renders(want)) => out == want,
                (Err(e), Go::Fails(want) | Go::Refused(want)) => e.to_string().contains(want),
                _ => false,
            };
            if !ok {
                wrong.push(format!("{text:?}: got {got:?}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} wrong:\n{}",
            wrong.len(),
            GO_CASES.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn errors_name_the_file_the_key_the_action_and_the_text() {
        let cases = [
            (
                Origin::file("/m/.ko.yaml", "builds[1].ldflags"),
                "-X main.v={{.Env.VERSION}} {{html .Env}}",
                "/m/.ko.yaml: builds[1].ldflags: bad template {{html .Env}} in \"-X main.v={{.Env.VERSION}} {{html .Env}}\": html is outside",
            ),
            (
                Origin::flag("--ldflags"),
                "-X main.v={{.Env.NOPE}}",
                "--ldflags: bad template {{.Env.NOPE}} in \"-X main.v={{.Env.NOPE}}\": map has no entry for key \"NOPE\" (ko's templates fail on an unset variable: {{index .Env \"NAME\"}}",
            ),
        ];
        for (origin, text, want) in cases {
            let err = render(text, &go_data(), &origin).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn costly_data_is_read_only_when_a_template_reads_it() {
        let cases = [
            ("{{.Git.Tag}}", true, false),
            ("{{if eq .GoEnv.GOOS \"linux\"}}{{end}}", false, true),
            ("{{index . \"Git\"}}", true, true),
            ("{{.Env.GOOS}} {{.Date}}", false, false),
            (
                "{{if .Env.X}}{{else}}{{printf \"%s\" (.Git.Tag)}}{{end}}",
                true,
                false,
            ),
            ("{{with .Git}}{{.Tag}}{{end}}", true, false),
            (
                "{{with .Env.X}}{{.GoEnv}}{{else}}{{.Env.Y}}{{end}}",
                false,
                false,
            ),
            (
                "{{with .Env.X}}{{.}}{{else}}{{.GoEnv.Y}}{{end}}",
                false,
                true,
            ),
            ("{{range .Env}}{{$.Git.Tag}}{{end}}", true, false),
            ("{{range $k, $v := .Env}}{{.Git}}{{end}}", false, false),
            ("{{$x := .}}{{$x.Git.Tag}}", true, true),
            ("{{$x := .Env}}{{$x.GOOS}}", false, false),
            ("{{$}}", true, true),
        ];
        for (text, git, go_env) in cases {
            let template = Template::parse(text).unwrap();
            assert_eq!(Needs::of([&template]), Needs { git, go_env }, "{text}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Template-shaped text: delimiters, trim markers, keywords,
        /// functions, fields, literals and stray quotes.
        fn template_text() -> impl Strategy<Value = String> {
            const PIECES: [&str; 31] = [
                "{{",
                "}}",
                "{{- ",
                " -}}",
                "{{/*",
                "*/}}",
                "if ",
                "else ",
                "end",
                "range ",
                "eq ",
                "and ",
                "printf ",
                "index ",
                "len ",
                "(",
                ")",
                "|",
                ".Env.GOOS",
                ".Git.Tag",
                ".Timestamp",
                ".",
                "$x",
                "\"%s\" ",
                "\"a\\",
                "`r`",
                "'c'",
                "-3 ",
                "1.5",
                "%",
                "\u{e9}",
            ];
            let piece = prop_oneof![
                prop::sample::select(&PIECES[..]).prop_map(str::to_string),
                "[a-z{}()|.\" %-]{0,3}",
            ];
            prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            #[test]
            fn any_text_parses_or_fails_and_never_panics(text in any::<String>()) {
                if let Ok(template) = Template::parse(&text) {
                    let _ = template.execute(&go_data());
                }
            }

            #[test]
            fn template_shaped_text_parses_or_fails_and_never_panics(text in template_text()) {
                if let Ok(template) = Template::parse(&text) {
                    let _ = template.execute(&go_data());
                }
            }
        }
    }
}
