//! Params files: an argument `@FILE` stands for the lines of FILE, one
//! argument per line, as Bazel writes them (`use_param_file("@%s")` with
//! `set_param_file_format("multiline")`).

use rko::Error;
use std::ffi::OsString;
use std::path::Path;

/// Replaces every `@FILE` argument (after the program name) by its lines.
pub fn expand(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, Error> {
    let mut out = Vec::new();
    for (i, arg) in args.into_iter().enumerate() {
        let file = arg
            .to_str()
            .and_then(|s| s.strip_prefix('@'))
            .filter(|f| !f.is_empty());
        match file {
            Some(file) if i > 0 => {
                let path = Path::new(file);
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::io("reading params file", path, e))?;
                out.extend(text.lines().map(OsString::from));
            }
            _ => out.push(arg),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_files_expand_in_place_one_argument_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("args.txt");
        std::fs::write(&file, "--env\nA=b c\n--cmd\n\n").unwrap();
        let args = [
            "rko",
            "append",
            &format!("@{}", file.display()),
            "--out",
            "x",
        ];
        let got = expand(args.iter().map(OsString::from)).unwrap();
        let want = ["rko", "append", "--env", "A=b c", "--cmd", "", "--out", "x"];
        assert_eq!(got, want.iter().map(OsString::from).collect::<Vec<_>>());
    }

    #[test]
    fn a_missing_params_file_is_named() {
        let err = expand(["rko", "@/no/such/file"].map(OsString::from)).unwrap_err();
        assert!(err.to_string().contains("/no/such/file"), "{err}");
    }
}
