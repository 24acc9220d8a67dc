//! Image references (`KO_DOCKER_REPO`, `--base-image`, `.ko.yaml`, a
//! registry's `Location`): any text parses or is refused, and a reference
//! that parses prints as a reference that parses back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::Reference;

fuzz_target!(|text: &str| {
    let _ = rko::fuzzing::check_repository_name(text);
    let Ok(reference) = text.parse::<Reference>() else {
        return;
    };
    let printed = reference.to_string();
    let again: Reference = printed
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(again, reference, "{text:?} printed as {printed:?}");
    assert_eq!(again.to_string(), printed);
    // The repository alone names a repository too.
    rko::fuzzing::check_repository_name(&reference.repository_name()).unwrap_or_else(|e| {
        panic!(
            "{text:?}: its repository {:?} is refused: {e}",
            reference.repository_name()
        )
    });
    let _ = reference.identifier();
    let _ = reference.with_tag(text);
});
