//! The tree of a template, as Go's text/template/parse builds it for the
//! subset rko runs: text, actions and `{{if}}` chains, each action a
//! pipeline of commands. As in Go, an unknown function is an error when
//! the template is parsed, even in a branch that never runs.

use super::lex::{outside, Item, Token};
use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// `{{pipeline}}`, printed; `source` is the action as written.
    Action {
        source: String,
        pipeline: Pipeline,
    },
    /// `{{if}}` ... `{{else if}}` ... `{{else}}` ... `{{end}}`.
    If {
        branches: Vec<Branch>,
        otherwise: Vec<Node>,
    },
}

/// One `{{if}}` or `{{else if}}` and what it guards.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub source: String,
    pub condition: Pipeline,
    pub body: Vec<Node>,
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

/// Keywords that start or end a control structure rko does not run.
const GO_ONLY_KEYWORDS: [&str; 7] = [
    "range", "with", "define", "template", "block", "break", "continue",
];

/// How a list of nodes ended.
enum Stop {
    Eof,
    End(String),
    /// `{{else}}` (no tokens) or `{{else if ...}}` (the tokens after `if`).
    Else(String, Option<Vec<Token>>),
}

/// The tree of the template's items.
pub fn parse(items: Vec<Item>) -> Result<Vec<Node>, TemplateError> {
    let mut items = items.into_iter();
    let (nodes, end) = list(&mut items)?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End(source) => Err(TemplateError::new(source, "unexpected {{end}}")),
        Stop::Else(source, _) => Err(TemplateError::new(source, "unexpected {{else}}")),
    }
}

fn list(items: &mut impl Iterator<Item = Item>) -> Result<(Vec<Node>, Stop), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(item) = items.next() {
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
        match keyword {
            "if" => nodes.push(if_chain(items, source, tokens[1..].to_vec())?),
            "else" => {
                let rest = else_if(&source, &tokens[1..])?;
                return Ok((nodes, Stop::Else(source, rest)));
            }
            "end" if tokens.len() == 1 => return Ok((nodes, Stop::End(source))),
            "end" => return Err(TemplateError::new(source, "unexpected tokens in {{end}}")),
            k if GO_ONLY_KEYWORDS.contains(&k) => {
                return Err(TemplateError::new(source, outside(k)))
            }
            _ => {
                let pipeline = pipeline(&source, &tokens)?;
                nodes.push(Node::Action { source, pipeline });
            }
        }
    }
    Ok((nodes, Stop::Eof))
}

/// What follows `else`: nothing, or `if` and a condition.
fn else_if(source: &str, tokens: &[Token]) -> Result<Option<Vec<Token>>, TemplateError> {
    match tokens.first() {
        None => Ok(None),
        Some(Token::Ident(word)) if word == "if" => Ok(Some(tokens[1..].to_vec())),
        Some(Token::Ident(word)) if word == "with" => {
            Err(TemplateError::new(source, outside("else with")))
        }
        Some(_) => Err(TemplateError::new(
            source,
            "expected {{else}} or {{else if}}",
        )),
    }
}

fn if_chain(
    items: &mut impl Iterator<Item = Item>,
    first: String,
    mut condition: Vec<Token>,
) -> Result<Node, TemplateError> {
    let mut branches = Vec::new();
    let mut source = first.clone();
    let no_end = || TemplateError::new(first.clone(), "unexpected EOF: this {{if}} has no {{end}}");
    loop {
        if condition.is_empty() {
            return Err(TemplateError::new(source, "missing value for if"));
        }
        let parsed = pipeline(&source, &condition)?;
        let (body, end) = list(items)?;
        branches.push(Branch {
            source,
            condition: parsed,
            body,
        });
        match end {
            Stop::Eof => return Err(no_end()),
            Stop::End(_) => {
                return Ok(Node::If {
                    branches,
                    otherwise: Vec::new(),
                })
            }
            Stop::Else(next, Some(tokens)) => (source, condition) = (next, tokens),
            Stop::Else(_, None) => {
                let (otherwise, end) = list(items)?;
                return match end {
                    Stop::End(_) => Ok(Node::If {
                        branches,
                        otherwise,
                    }),
                    Stop::Else(source, _) => Err(TemplateError::new(
                        source,
                        "expected {{end}}; found {{else}}",
                    )),
                    Stop::Eof => Err(no_end()),
                };
            }
        }
    }
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
            Token::Str(s) => Term::Str(s),
            Token::Int(i) => Term::Int(i),
            Token::Ident(word) => match word.as_str() {
                "true" => Term::Bool(true),
                "false" => Term::Bool(false),
                "nil" => return Err("nil is not a command".to_string()),
                "if" | "else" | "end" => return Err(format!("unexpected {word} in operand")),
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
        })
    }
}

/// A term as written, for messages.
pub fn describe(term: &Term) -> String {
    match term {
        Term::Field(names) if names.is_empty() => ".".to_string(),
        Term::Field(names) => names.iter().map(|n| format!(".{n}")).collect(),
        Term::Str(s) => format!("{s:?}"),
        Term::Int(i) => i.to_string(),
        Term::Bool(b) => b.to_string(),
        Term::Call(f) => f.name().to_string(),
        Term::Pipeline(_) => "(...)".to_string(),
    }
}
