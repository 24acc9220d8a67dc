//! `.ko.yaml` as the user wrote it: any text gives a configuration (its
//! build templates checked, its image settings rendered over a small fixed
//! data set) or an error, never a panic; rendering is deterministic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|text: &str| {
    let data = rko::fuzzing::template_data();
    let work_dir = Path::new("/work/project");
    let Ok(config) = rko::fuzzing::read_ko_yaml(text, work_dir, &data) else {
        return;
    };
    let again = rko::fuzzing::read_ko_yaml(text, work_dir, &data).expect("it read once");
    assert_eq!(format!("{config:?}"), format!("{again:?}"));
});
