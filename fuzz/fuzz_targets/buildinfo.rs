//! Go build information read from a binary (`rko sbom`, the SBOM of
//! `rko build`): any file gives build information or an error, never a
//! panic, whether it looks like an ELF, Mach-O or PE file or not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(data).unwrap();
    file.flush().unwrap();
    if let Ok(info) = rko::read_build_info(file.path()) {
        assert!(!info.path.is_empty());
        let _ = info.setting("GOOS");
    }
});
