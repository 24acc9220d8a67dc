//! Running a parsed template on its data, as Go's text/template executes
//! it with `missingkey=error` (ko's option): a missing map key read as a
//! field is an error, `and`/`or` stop at the first argument that decides,
//! every other function sees all its arguments evaluated. Variables live
//! on one stack, as Go's `state.vars`: a declaration pushes, an assignment
//! changes the nearest of that name, and each control structure (and each
//! turn of a range) drops what was declared inside it.

use super::lex::outside;
use super::parse::{describe, Command, Decl, Func, Node, Pipeline, Term};
use super::printf::sprintf;
use super::value::Value;
use super::TemplateError;

/// The variables in scope, innermost last; `$` (the data) first.
pub struct Vars(Vec<(String, Value)>);

impl Vars {
    pub fn new(data: &Value) -> Vars {
        Vars(vec![("$".to_string(), data.clone())])
    }

    fn get(&self, name: &str) -> Result<&Value, String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("undefined variable: {name}"))
    }

    fn set(&mut self, name: &str, value: Value) -> Result<(), String> {
        match self.0.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(format!("undefined variable: {name}")),
        }
    }

    /// Declares or assigns `decl`'s variables: every one gets `value`.
    fn bind(&mut self, decl: &Decl, value: &Value) -> Result<(), String> {
        for name in &decl.names {
            if decl.assign {
                self.set(name, value.clone())?;
            } else {
                self.0.push((name.clone(), value.clone()));
            }
        }
        Ok(())
    }
}

/// How a list of nodes ended: normally, or at `{{break}}`/`{{continue}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Normal,
    Break,
    Continue,
}

/// Appends what `nodes` print with `dot` to `out`.
pub fn execute(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vars,
    out: &mut String,
) -> Result<Flow, TemplateError> {
    for node in nodes {
        let flow = match node {
            Node::Text(text) => {
                out.push_str(text);
                Flow::Normal
            }
            Node::Break => Flow::Break,
            Node::Continue => Flow::Continue,
            Node::Action {
                source,
                decl,
                pipeline,
            } => {
                let at = |m| TemplateError::new(source, m);
                let value = eval_pipeline(pipeline, dot, vars).map_err(at)?;
                if decl.names.is_empty() {
                    out.push_str(&value.print().map_err(at)?);
                } else {
                    vars.bind(decl, &value).map_err(at)?;
                }
                Flow::Normal
            }
            Node::Control {
                with,
                branches,
                otherwise,
            } => {
                let mark = vars.0.len();
                let flow = control(*with, branches, otherwise, dot, vars, out);
                vars.0.truncate(mark);
                flow?
            }
            Node::Range {
                source,
                decl,
                pipeline,
                body,
                otherwise,
            } => {
                let mark = vars.0.len();
                let flow = range(source, decl, pipeline, (body, otherwise), dot, vars, out);
                vars.0.truncate(mark);
                flow?
            }
        };
        if flow != Flow::Normal {
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

/// The first branch whose condition is true runs (with dot set to the
/// condition's value for `with`), else `otherwise`.
fn control(
    with: bool,
    branches: &[super::parse::Branch],
    otherwise: &[Node],
    dot: &Value,
    vars: &mut Vars,
    out: &mut String,
) -> Result<Flow, TemplateError> {
    for branch in branches {
        let at = |m| TemplateError::new(&branch.source, m);
        let value = eval_pipeline(&branch.condition, dot, vars).map_err(at)?;
        vars.bind(&branch.decl, &value).map_err(at)?;
        if value.truth() {
            let dot = if with { &value } else { dot };
            return execute(&branch.body, dot, vars, out);
        }
    }
    execute(otherwise, dot, vars, out)
}

/// `{{range}}` over a map (in key order: key and value) or an integer n
/// (0 to n-1, as Go 1.22 ranges), each turn with dot set to the element;
/// `otherwise` when there is nothing to range over.
fn range(
    source: &str,
    decl: &Decl,
    pipeline: &Pipeline,
    (body, otherwise): (&[Node], &[Node]),
    dot: &Value,
    vars: &mut Vars,
    out: &mut String,
) -> Result<Flow, TemplateError> {
    let at = |m: String| TemplateError::new(source, m);
    let value = eval_pipeline(pipeline, dot, vars).map_err(at)?;
    vars.bind(decl, &value).map_err(at)?;
    let empty = match &value {
        Value::Map(map) => map.entries.is_empty(),
        Value::Int(n) if decl.names.len() > 1 => {
            return Err(at(format!(
                "can't use {n} to iterate over more than one variable"
            )))
        }
        Value::Int(n) => *n <= 0,
        Value::Nil => true,
        other => {
            return Err(at(format!(
                "range can't iterate over {}",
                other.print().unwrap_or_default()
            )))
        }
    };
    if empty {
        return execute(otherwise, dot, vars, out);
    }
    // Taken one at a time: a range over a large integer allocates nothing.
    let turns: Box<dyn Iterator<Item = (Value, Value)>> = match &value {
        Value::Map(map) => Box::new(
            map.entries
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), v.clone())),
        ),
        Value::Int(n) => Box::new((0..*n).map(|i| (Value::Int(i), Value::Int(i)))),
        _ => unreachable!("checked above"),
    };
    for (index, element) in turns {
        // As Go's walkRange: with `:=` the last name gets the element and
        // the first (of two) the index; with `=` the other way round.
        let names = &decl.names;
        match (names.as_slice(), decl.assign) {
            ([], _) => {}
            ([one], true) => vars.set(one, element.clone()).map_err(at)?,
            ([key, value, ..], true) => {
                vars.set(key, index).map_err(at)?;
                vars.set(value, element.clone()).map_err(at)?;
            }
            (_, false) => {
                let top = vars.0.len();
                vars.0[top - 1].1 = element.clone();
                if names.len() > 1 {
                    vars.0[top - 2].1 = index;
                }
            }
        }
        let mark = vars.0.len();
        let flow = execute(body, &element, vars, out);
        vars.0.truncate(mark);
        if flow? == Flow::Break {
            break;
        }
    }
    Ok(Flow::Normal)
}

fn eval_pipeline(pipeline: &Pipeline, dot: &Value, vars: &Vars) -> Result<Value, String> {
    let mut piped = None;
    for command in &pipeline.0 {
        piped = Some(match command {
            Command::Operand(term) => eval_term(term, dot, vars)?,
            Command::Call(f, args) => call(*f, args, piped.take(), dot, vars)?,
            Command::NotAFunction(term) => {
                return Err(format!(
                    "can't give argument to non-function {}",
                    describe(term)
                ))
            }
        });
    }
    Ok(piped.expect("a pipeline has at least one command"))
}

fn eval_term(term: &Term, dot: &Value, vars: &Vars) -> Result<Value, String> {
    match term {
        Term::Field(names) => field(dot, names),
        Term::Variable(name, names) => field(vars.get(name)?, names),
        Term::Str(s) => Ok(Value::Str(s.clone())),
        Term::Int(i) => Ok(Value::Int(*i)),
        Term::Bool(b) => Ok(Value::Bool(*b)),
        Term::Call(f) => call(*f, &[], None, dot, vars),
        Term::Pipeline(p) => eval_pipeline(p, dot, vars),
    }
}

/// `.A.B` from `value`; with `missingkey=error`, a missing key is an error.
fn field(value: &Value, names: &[String]) -> Result<Value, String> {
    let mut value = value;
    for name in names {
        value = match value {
            Value::Map(map) => map
                .entries
                .get(name)
                .ok_or_else(|| format!("map has no entry for key {name:?}"))?,
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(value.clone())
}

/// Calls `f` on `args`, then the value piped in (its last argument).
fn call(
    f: Func,
    args: &[Term],
    piped: Option<Value>,
    dot: &Value,
    vars: &Vars,
) -> Result<Value, String> {
    let count = args.len() + usize::from(piped.is_some());
    let mut piped = piped;
    let mut arg = |i: usize| -> Result<Value, String> {
        match args.get(i) {
            Some(term) => eval_term(term, dot, vars),
            None => Ok(piped.take().expect("the piped value is the last argument")),
        }
    };
    if matches!(f, Func::And | Func::Or) {
        if count == 0 {
            return Err(arity(f, "at least 1", 0));
        }
        for i in 0..count {
            let value = arg(i)?;
            if i + 1 == count || value.truth() == (f == Func::Or) {
                return Ok(value);
            }
        }
    }
    let values = (0..count).map(arg).collect::<Result<Vec<_>, _>>()?;
    builtin(f, values)
}

fn arity(f: Func, want: &str, got: usize) -> String {
    format!(
        "wrong number of args for {}: want {want} got {got}",
        f.name()
    )
}

/// Checks that `f` got exactly `n` arguments.
fn exactly<const N: usize>(f: Func, values: Vec<Value>) -> Result<[Value; N], String> {
    let got = values.len();
    values.try_into().map_err(|_| arity(f, &N.to_string(), got))
}

fn at_least(f: Func, values: &[Value]) -> Result<(), String> {
    if values.is_empty() {
        return Err(arity(f, "at least 1", 0));
    }
    Ok(())
}

/// The functions that see all their arguments.
fn builtin(f: Func, values: Vec<Value>) -> Result<Value, String> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let ordered = |values: Vec<Value>, accept: &[std::cmp::Ordering]| {
        let [a, b] = exactly(f, values)?;
        Ok(Value::Bool(accept.contains(&a.order(&b)?)))
    };
    match f {
        Func::And | Func::Or => unreachable!("and and or are evaluated lazily"),
        Func::Not => exactly::<1>(f, values).map(|[v]| Value::Bool(!v.truth())),
        Func::Eq => eq(values),
        Func::Ne => {
            let [a, b] = exactly(f, values)?;
            Ok(Value::Bool(!a.equals(&b)?))
        }
        Func::Lt => ordered(values, &[Less]),
        Func::Le => ordered(values, &[Less, Equal]),
        Func::Gt => ordered(values, &[Greater]),
        Func::Ge => ordered(values, &[Greater, Equal]),
        Func::Len => match exactly::<1>(f, values)? {
            [Value::Str(s)] => Ok(Value::Int(s.len() as i64)),
            [Value::Map(m)] => Ok(Value::Int(m.entries.len() as i64)),
            [other] => Err(format!(
                "error calling len: len of type {}",
                other.type_name()
            )),
        },
        Func::Index => {
            at_least(f, &values)?;
            index(values)
        }
        Func::Print => print(&values).map(Value::Str),
        Func::Printf => {
            at_least(f, &values)?;
            match &values[0] {
                Value::Str(format) => sprintf(format, &values[1..]).map(Value::Str),
                other => Err(format!(
                    "printf's format is a {}, not a string",
                    other.type_name()
                )),
            }
        }
    }
}

/// `eq a b c...`: whether `a` equals any of the others, checked in order.
fn eq(values: Vec<Value>) -> Result<Value, String> {
    at_least(Func::Eq, &values)?;
    if values.len() == 1 {
        return Err("error calling eq: missing argument for comparison".to_string());
    }
    for other in &values[1..] {
        if values[0]
            .equals(other)
            .map_err(|e| format!("error calling eq: {e}"))?
        {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `index m k1 k2...`: a missing key gives the map's zero value.
fn index(values: Vec<Value>) -> Result<Value, String> {
    let mut values = values.into_iter();
    let mut item = values.next().expect("checked by the caller");
    for key in values {
        item = match (item, key) {
            (Value::Map(map), Value::Str(key)) => match map.entries.get(&key) {
                Some(value) => value.clone(),
                None if map.of_strings => Value::Str(String::new()),
                None => Value::Nil,
            },
            (Value::Map(_), key) => {
                return Err(format!(
                    "error calling index: value has type {}; should be string",
                    key.type_name()
                ))
            }
            (Value::Str(_), _) => return Err(outside("index of a string")),
            (other, _) => {
                return Err(format!(
                    "error calling index: can't index item of type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(item)
}

/// Go's fmt.Sprint: a space between two operands when neither is a string.
fn print(values: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for (i, value) in values.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(value) && !is_str(&values[i - 1]) {
            out.push(' ');
        }
        out.push_str(&value.print()?);
    }
    Ok(out)
}
