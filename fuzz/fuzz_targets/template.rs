//! ko's Go templates (`.ko.yaml` values, `--ldflags`): the lexer, the
//! parser and execution over a small fixed data set. Any text parses or is
//! refused and runs or fails, never a panic; text without `{{` is itself;
//! running is deterministic and agrees with rendering in one step.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let data = rko::fuzzing::template_data();
    let parsed = rko::fuzzing::parse_template(text);
    let rendered = rko::fuzzing::render_template(text, &data);
    if !text.contains("{{") {
        assert_eq!(rendered.as_deref().ok(), Some(text), "{text:?}");
    }
    let Ok((template, _, _)) = parsed else {
        assert!(rendered.is_err(), "{text:?} does not parse but renders");
        return;
    };
    let run = template.execute(&data);
    assert_eq!(run.clone().ok(), rendered.ok(), "{text:?}");
    assert_eq!(run, template.execute(&data), "{text:?}");
});
