//! The tree of a template, as Go's text/template/parse builds it: text,
//! actions, `{{if}}`/`{{with}}` chains, `{{range}}` with `{{break}}` and
//! `{{continue}}`, and variables (`$x := ...`, `$x = ...`, `range $k, $v
//! := ...`), each action a pipeline of commands. As in Go, an unknown
//! function or an undefined variable is an error when the template is
//! parsed, even in a branch that never runs.

use super::lex::{outside, Item, Token};
use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// `{{pipeline}}`, printed unless it declares or assigns variables;
    /// `source` is the action as written.
    Action {
        source: String,
        decl: Decl,
        pipeline: Pipeline,
    },
    /// `{{if}}` ... `{{else if}}` ... `{{else}}` ... `{{end}}`, or the same
    /// with `with` (which sets dot to the value of the branch taken).
    Control {
        with: bool,
        branches: Vec<Branch>,
        otherwise: Vec<Node>,
    },
    /// `{{range}}` ... `{{else}}` ... `{{end}}`.
    Range {
        source: String,
        decl: Decl,
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

/// One `{{if}}`, `{{else if}}`, `{{with}}` or `{{else with}}` and what it guards.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub source: String,
    pub decl: Decl,
    pub condition: Pipeline,
    pub body: Vec<Node>,
}

/// The variables an action declares (`$x :=`) or assigns (`$x =`); at
/// most two, in `range`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decl {
    pub names: Vec<String>,
    pub assign: bool,
}

/// Commands joined by `|`: each one's value is the last argument of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline(pub Vec<Command>);

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Call(Func, Vec<Term>),
    Operand(Term),
    /// An operand given arguments (or a piped value): an error when it
    /// runs, as in Go, not when it is parsed.
    NotAFunction(Term),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `.` (empty) or `.A.B`.
    Field(Vec<String>),
    /// `$`, `$x` or `$x.A.B`.
    Variable(String, Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    /// A function named as an argument: called with no arguments, as in Go.
    Call(Func),
    Pipeline(Pipeline),
}

/// Go's built-in template functions that rko implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    And,
    Or,
    Not,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Len,
    Index,
    Print,
    Printf,
}

impl Func {
    const ALL: [(&'static str, Func); 13] = [
        ("and", Func::And),
        ("or", Func::Or),
        ("not", Func::Not),
        ("eq", Func::Eq),
        ("ne", Func::Ne),
        ("lt", Func::Lt),
        ("le", Func::Le),
        ("gt", Func::Gt),
        ("ge", Func::Ge),
        ("len", Func::Len),
        ("index", Func::Index),
        ("print", Func::Print),
        ("printf", Func::Printf),
    ];

    pub fn name(self) -> &'static str {
        Func::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(name, _)| *name)
            .expect("every function is listed")
    }

    /// The function `name` denotes: one of rko's, or an error saying Go
    /// has it and rko does not, or that Go has no such function either.
    fn lookup(name: &str) -> Result<Func, String> {
        if let Some((_, f)) = Func::ALL.iter().find(|(n, _)| *n == name) {
            return Ok(*f);
        }
        const GO_ONLY: [&str; 6] = ["html", "js", "urlquery", "slice", "call", "println"];
        if GO_ONLY.contains(&name) {
            return Err(outside(name));
        }
        Err(format!("function {name:?} not defined"))
    }
}

/// Keywords of Go's that rko does not run (one template, no others to call).
const GO_ONLY_KEYWORDS: [&str; 3] = ["define", "template", "block"];

/// Keywords that start or end a control structure.
const KEYWORDS: [&str; 7] = ["if", "else", "end", "with", "range", "break", "continue"];

/// How a list of nodes ended.
enum Stop {
    Eof,
    End(String),
    /// `{{else}}` (no tokens), or `{{else if ...}}` / `{{else with ...}}`
    /// (the keyword and the tokens after it).
    Else(String, Option<(String, Vec<Token>)>),
}

/// The tree of the template's items.
pub fn parse(items: Vec<Item>) -> Result<Vec<Node>, TemplateError> {
    let mut parser = Tree {
        items: items.into_iter(),
        vars: vec!["$".to_string()],
        ranges: 0,
    };
    let (nodes, end) = parser.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End(source) => Err(TemplateError::new(source, "unexpected {{end}}")),
        Stop::Else(source, _) => Err(TemplateError::new(source, "unexpected {{else}}")),
    }
}

/// The parser's state: the items left, the variables in scope (as Go's
/// `Tree.vars`) and how many `{{range}}`s enclose the current node.
struct Tree<I> {
    items: I,
    vars: Vec<String>,
    ranges: usize,
}

impl<I: Iterator<Item = Item>> Tree<I> {
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (source, tokens) = match item {
                Item::Text(text) => {
                    nodes.push(Node::Text(text));
                    continue;
                }
                Item::Action { source, tokens } => (source, tokens),
            };
            let keyword = match tokens.first() {
                Some(Token::Ident(word)) => word.as_str(),
                _ => "",
            };
            let alone = |node: Node| match () {
                _ if tokens.len() > 1 => Err(TemplateError::new(
                    source.clone(),
                    format!("unexpected tokens in {{{{{keyword}}}}}"),
                )),
                _ if self.ranges == 0 => Err(TemplateError::new(
                    source.clone(),
                    format!("{{{{{keyword}}}}} outside {{{{range}}}}"),
                )),
                _ => Ok(node),
            };
            match keyword {
                "if" | "with" => {
                    let with = keyword == "with";
                    let mark = self.vars.len();
                    let node = self.control(with, source, tokens[1..].to_vec());
                    self.vars.truncate(mark);
                    nodes.push(node?);
                }
                "range" => {
                    let mark = self.vars.len();
                    let node = self.range(source, &tokens[1..]);
                    self.vars.truncate(mark);
                    nodes.push(node?);
                }
                "break" => nodes.push(alone(Node::Break)?),
                "continue" => nodes.push(alone(Node::Continue)?),
                "else" => {
                    let rest = else_chain(&source, &tokens[1..])?;
                    return Ok((nodes, Stop::Else(source, rest)));
                }
                "end" if tokens.len() == 1 => return Ok((nodes, Stop::End(source))),
                "end" => return Err(TemplateError::new(source, "unexpected tokens in {{end}}")),
                k if GO_ONLY_KEYWORDS.contains(&k) => {
                    return Err(TemplateError::new(source, outside(k)))
                }
                _ => {
                    let (decl, pipeline) = self.action(&source, &tokens, "command", 1)?;
                    nodes.push(Node::Action {
                        source,
                        decl,
                        pipeline,
                    });
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// An `{{if}}` or `{{with}}` and its `{{else if}}`/`{{else with}}`
    /// chain (the same keyword only, as in Go), through its `{{end}}`.
    fn control(
        &mut self,
        with: bool,
        first: String,
        mut condition: Vec<Token>,
    ) -> Result<Node, TemplateError> {
        let keyword = if with { "with" } else { "if" };
        let mut branches = Vec::new();
        let mut source = first.clone();
        let no_end = || {
            TemplateError::new(
                first.clone(),
                format!("unexpected EOF: this {{{{{keyword}}}}} has no {{{{end}}}}"),
            )
        };
        loop {
            if condition.is_empty() {
                return Err(TemplateError::new(
                    source,
                    format!("missing value for {keyword}"),
                ));
            }
            let (decl, parsed) = self.action(&source, &condition, keyword, 1)?;
            let (body, end) = self.list()?;
            branches.push(Branch {
                source,
                decl,
                condition: parsed,
                body,
            });
            match end {
                Stop::Eof => return Err(no_end()),
                Stop::End(_) => {
                    return Ok(Node::Control {
                        with,
                        branches,
                        otherwise: Vec::new(),
                    })
                }
                Stop::Else(next, Some((word, tokens))) if word == keyword => {
                    (source, condition) = (next, tokens)
                }
                Stop::Else(next, Some((word, _))) => {
                    return Err(TemplateError::new(
                        next,
                        format!("unexpected {word} in {{{{else}}}} of {{{{{keyword}}}}}"),
                    ))
                }
                Stop::Else(_, None) => {
                    let otherwise = self.otherwise(no_end)?;
                    return Ok(Node::Control {
                        with,
                        branches,
                        otherwise,
                    });
                }
            }
        }
    }

    /// A `{{range}}` through its `{{end}}`.
    fn range(&mut self, source: String, tokens: &[Token]) -> Result<Node, TemplateError> {
        if tokens.is_empty() {
            return Err(TemplateError::new(source, "missing value for range"));
        }
        let (decl, pipeline) = self.action(&source, tokens, "range", 2)?;
        self.ranges += 1;
        let body = self.list();
        self.ranges -= 1;
        let no_end = || {
            TemplateError::new(
                source.clone(),
                "unexpected EOF: this {{range}} has no {{end}}",
            )
        };
        let otherwise = match body? {
            (body, Stop::End(_)) => (body, Vec::new()),
            (body, Stop::Else(_, None)) => (body, self.otherwise(no_end)?),
            (_, Stop::Else(next, Some((word, _)))) => {
                return Err(TemplateError::new(
                    next,
                    format!("unexpected {word} in {{{{else}}}} of {{{{range}}}}"),
                ))
            }
            (_, Stop::Eof) => return Err(no_end()),
        };
        Ok(Node::Range {
            source,
            decl,
            pipeline,
            body: otherwise.0,
            otherwise: otherwise.1,
        })
    }

    /// The list after a final `{{else}}`, through `{{end}}`.
    fn otherwise(
        &mut self,
        no_end: impl Fn() -> TemplateError,
    ) -> Result<Vec<Node>, TemplateError> {
        let (otherwise, end) = self.list()?;
        match end {
            Stop::End(_) => Ok(otherwise),
            Stop::Else(source, _) => Err(TemplateError::new(
                source,
                "expected {{end}}; found {{else}}",
            )),
            Stop::Eof => Err(no_end()),
        }
    }

    /// The variables an action declares or assigns (at most `most` of
    /// them, comma-separated), then its pipeline; variables are checked
    /// and declared as Go's parser does.
    fn action(
        &mut self,
        source: &str,
        tokens: &[Token],
        context: &str,
        most: usize,
    ) -> Result<(Decl, Pipeline), TemplateError> {
        let error = |message: String| TemplateError::new(source, message);
        let mut decl = Decl::default();
        let mut rest = tokens;
        // `$x :=`, `$x =` or (in range) `$k, $v :=`.
        let mut names = Vec::new();
        let mut i = 0;
        loop {
            match (tokens.get(i), tokens.get(i + 1)) {
                (Some(Token::Variable(name, fields)), Some(next)) if fields.is_empty() => {
                    match next {
                        Token::Declare | Token::Assign => {
                            names.push(name.clone());
                            decl.assign = *next == Token::Assign;
                            rest = &tokens[i + 2..];
                            break;
                        }
                        Token::Comma if context == "range" && names.is_empty() => {
                            names.push(name.clone());
                            i += 2;
                        }
                        Token::Comma => {
                            return Err(error(format!("too many declarations in {context}")))
                        }
                        _ if names.is_empty() => break,
                        _ => return Err(error(format!("missing := after {name} in {context}"))),
                    }
                }
                _ if names.is_empty() => break,
                _ => return Err(error(format!("unexpected token after comma in {context}"))),
            }
        }
        if names.len() > most {
            return Err(error(format!("too many declarations in {context}")));
        }
        if !names.is_empty() && rest.is_empty() {
            return Err(error(format!("missing value for {context}")));
        }
        if rest
            .iter()
            .any(|t| matches!(t, Token::Declare | Token::Assign | Token::Comma))
        {
            return Err(error(outside(":=, = or , inside a pipeline")));
        }
        let pipeline = pipeline(source, rest)?;
        self.check_variables(source, &pipeline)?;
        // Go's parser puts an assigned name in scope too: assigning one
        // never declared fails when it runs.
        self.vars.extend(names.iter().cloned());
        decl.names = names;
        Ok((decl, pipeline))
    }

    /// Every variable the pipeline reads is in scope.
    fn check_variables(&self, source: &str, pipeline: &Pipeline) -> Result<(), TemplateError> {
        let mut missing = None;
        walk_terms(pipeline, &mut |term| {
            if let Term::Variable(name, _) = term {
                if !self.vars.contains(name) && missing.is_none() {
                    missing = Some(name.clone());
                }
            }
        });
        match missing {
            Some(name) => Err(TemplateError::new(
                source,
                format!("undefined variable {name:?}"),
            )),
            None => Ok(()),
        }
    }
}

/// Calls `f` on every term of `pipeline`, inside parentheses too.
fn walk_terms(pipeline: &Pipeline, f: &mut impl FnMut(&Term)) {
    for command in &pipeline.0 {
        let terms = match command {
            Command::Call(_, args) => args.as_slice(),
            Command::Operand(t) | Command::NotAFunction(t) => std::slice::from_ref(t),
        };
        for term in terms {
            f(term);
            if let Term::Pipeline(inner) = term {
                walk_terms(inner, f);
            }
        }
    }
}

/// What follows `else`: nothing, or `if`/`with` and a pipeline.
fn else_chain(
    source: &str,
    tokens: &[Token],
) -> Result<Option<(String, Vec<Token>)>, TemplateError> {
    match tokens.first() {
        None => Ok(None),
        Some(Token::Ident(word)) if word == "if" || word == "with" => {
            Ok(Some((word.clone(), tokens[1..].to_vec())))
        }
        Some(_) => Err(TemplateError::new(
            source,
            "expected {{else}}, {{else if}} or {{else with}}",
        )),
    }
}

/// Whether `nodes` read the top-level field `name` of the data (or the
/// whole data). Dot is the data only outside `with` and `range` bodies;
/// inside them it is derived from a pipeline already looked at, as is
/// every variable but `$`.
pub fn reads(nodes: &[Node], name: &str) -> bool {
    fn pipeline(p: &Pipeline, name: &str, dot_is_data: bool) -> bool {
        let mut found = false;
        walk_terms(p, &mut |t| {
            found |= match t {
                Term::Field(names) => dot_is_data && names.first().is_none_or(|n| n == name),
                Term::Variable(var, names) => var == "$" && names.first().is_none_or(|n| n == name),
                _ => false,
            }
        });
        found
    }
    fn list(nodes: &[Node], name: &str, dot_is_data: bool) -> bool {
        nodes.iter().any(|node| match node {
            Node::Text(_) | Node::Break | Node::Continue => false,
            Node::Action { pipeline: p, .. } => pipeline(p, name, dot_is_data),
            Node::Control {
                with,
                branches,
                otherwise,
            } => {
                branches.iter().any(|b| {
                    pipeline(&b.condition, name, dot_is_data)
                        || list(&b.body, name, dot_is_data && !with)
                }) || list(otherwise, name, dot_is_data)
            }
            Node::Range {
                pipeline: p,
                body,
                otherwise,
                ..
            } => {
                pipeline(p, name, dot_is_data)
                    || list(body, name, false)
                    || list(otherwise, name, dot_is_data)
            }
        })
    }
    list(nodes, name, true)
}

/// The pipeline of a whole action.
fn pipeline(source: &str, tokens: &[Token]) -> Result<Pipeline, TemplateError> {
    let mut parser = Parser { tokens, pos: 0 };
    let error = |message: String| TemplateError::new(source, message);
    let pipeline = parser.pipeline().map_err(error)?;
    if parser.pos < tokens.len() {
        return Err(error("unexpected right paren".to_string()));
    }
    Ok(pipeline)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut commands = vec![self.command()?];
        while self.peek() == Some(&Token::Pipe) {
            self.pos += 1;
            // Go ignores a `|` that ends the pipeline.
            if matches!(self.peek(), None | Some(Token::Close)) {
                break;
            }
            commands.push(match self.command()? {
                Command::Operand(term) => Command::NotAFunction(term),
                command => command,
            });
        }
        Ok(Pipeline(commands))
    }

    fn command(&mut self) -> Result<Command, String> {
        let mut terms = Vec::new();
        while let Some(token) = self.peek() {
            if matches!(token, Token::Pipe | Token::Close) {
                break;
            }
            terms.push(self.term()?);
        }
        let mut terms = terms.into_iter();
        match terms.next() {
            None => Err("missing value for command".to_string()),
            Some(Term::Call(f)) => Ok(Command::Call(f, terms.collect())),
            Some(term) if terms.len() > 0 => Ok(Command::NotAFunction(term)),
            Some(term) => Ok(Command::Operand(term)),
        }
    }

    fn term(&mut self) -> Result<Term, String> {
        let token = self.tokens[self.pos].clone();
        self.pos += 1;
        Ok(match token {
            Token::Field(names) => Term::Field(names),
            Token::Variable(name, fields) => Term::Variable(name, fields),
            Token::Str(s) => Term::Str(s),
            Token::Int(i) => Term::Int(i),
            Token::Ident(word) => match word.as_str() {
                "true" => Term::Bool(true),
                "false" => Term::Bool(false),
                "nil" => return Err("nil is not a command".to_string()),
                k if KEYWORDS.contains(&k) => return Err(format!("unexpected {k} in operand")),
                k if GO_ONLY_KEYWORDS.contains(&k) => return Err(outside(k)),
                name => Term::Call(Func::lookup(name)?),
            },
            Token::Open => {
                if self.peek() == Some(&Token::Close) {
                    return Err("missing value for parenthesized pipeline".to_string());
                }
                let inner = self.pipeline()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("unclosed left paren".to_string());
                }
                self.pos += 1;
                Term::Pipeline(inner)
            }
            Token::Close | Token::Pipe => return Err("unexpected right paren".to_string()),
            Token::Declare | Token::Assign | Token::Comma => {
                return Err(outside(":=, = or , inside a pipeline"))
            }
        })
    }
}

/// A term as written, for messages.
pub fn describe(term: &Term) -> String {
    match term {
        Term::Field(names) if names.is_empty() => ".".to_string(),
        Term::Field(names) => names.iter().map(|n| format!(".{n}")).collect(),
        Term::Variable(name, names) => {
            name.clone() + &names.iter().map(|n| format!(".{n}")).collect::<String>()
        }
        Term::Str(s) => format!("{s:?}"),
        Term::Int(i) => i.to_string(),
        Term::Bool(b) => b.to_string(),
        Term::Call(f) => f.name().to_string(),
        Term::Pipeline(_) => "(...)".to_string(),
    }
}
