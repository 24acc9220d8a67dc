//! Running a parsed template on its data, as Go's text/template executes
//! it with `missingkey=error` (ko's option): a missing map key read as a
//! field is an error, `and`/`or` stop at the first argument that decides,
//! every other function sees all its arguments evaluated.

use super::lex::outside;
use super::parse::{describe, Command, Func, Node, Pipeline, Term};
use super::printf::sprintf;
use super::value::Value;
use super::TemplateError;

/// Appends what `nodes` print to `out`.
pub fn execute(nodes: &[Node], data: &Value, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action { source, pipeline } => {
                let printed = eval_pipeline(pipeline, data).and_then(|v| v.print());
                out.push_str(&printed.map_err(|m| TemplateError::new(source, m))?);
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mut taken = None;
                for branch in branches {
                    let value = eval_pipeline(&branch.condition, data)
                        .map_err(|m| TemplateError::new(&branch.source, m))?;
                    if value.truth() {
                        taken = Some(&branch.body);
                        break;
                    }
                }
                execute(taken.unwrap_or(otherwise), data, out)?;
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, data: &Value) -> Result<Value, String> {
    let mut piped = None;
    for command in &pipeline.0 {
        piped = Some(match command {
            Command::Operand(term) => eval_term(term, data)?,
            Command::Call(f, args) => call(*f, args, piped.take(), data)?,
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

fn eval_term(term: &Term, data: &Value) -> Result<Value, String> {
    match term {
        Term::Field(names) => field(data, names),
        Term::Str(s) => Ok(Value::Str(s.clone())),
        Term::Int(i) => Ok(Value::Int(*i)),
        Term::Bool(b) => Ok(Value::Bool(*b)),
        Term::Call(f) => call(*f, &[], None, data),
        Term::Pipeline(p) => eval_pipeline(p, data),
    }
}

/// `.A.B` from the data; with `missingkey=error`, a missing key is an error.
fn field(data: &Value, names: &[String]) -> Result<Value, String> {
    let mut value = data;
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
fn call(f: Func, args: &[Term], piped: Option<Value>, data: &Value) -> Result<Value, String> {
    let count = args.len() + usize::from(piped.is_some());
    let mut piped = piped;
    let mut arg = |i: usize| -> Result<Value, String> {
        match args.get(i) {
            Some(term) => eval_term(term, data),
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
