//! docker's `config.json` kept whole (issue 21, item 7): an empty file is no
//! configuration, as docker reads it; `login` and `logout` rewrite only a
//! file they can carry over exactly, keep every value they do not
//! understand as written and every key where it was, and take a lock so
//! that logins at the same time all land.

use crate::util::registry::{Auth, Registry, PASSWORD, USER};
use crate::util::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// `rko auth login REGISTRY -u me -p pw`: saved without asking a registry.
fn auth_login(config: &Path, registry: &str) -> Command {
    let mut cmd = rko_in(config);
    cmd.args(["auth", "login", registry, "-u", "me", "-p", "pw"]);
    cmd
}

/// `rko login HOST` with the test registry's user and password.
fn login(config: &Path, host: &str, ca: &Path) -> String {
    run_ok(
        rko_in(config)
            .args(["login", host, "-u", USER, "-p", PASSWORD, "--ca-cert"])
            .arg(ca),
    )
}

#[test]
fn an_empty_config_json_is_no_configuration_for_login_push_and_pull() {
    let registry = Registry::start(Auth::BasicTls);
    let (host, ca) = (registry.host(), registry.ca.clone().unwrap());
    let dir = temp_dir();
    let config = dir.path().join("docker");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join("config.json"), "").unwrap();
    assert!(login(&config, &host, &ca).contains("Login Succeeded"));
    let image = hello_image(dir.path(), "amd64");
    run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/app:1"))
            .arg("--ca-cert")
            .arg(&ca),
    );

    // Whitespace alone is empty too; the podman auth file after it answers.
    let auth_file = dir.path().join("auth.json");
    fs::copy(config.join("config.json"), &auth_file).unwrap();
    for empty in ["", " \n\t\n"] {
        fs::write(config.join("config.json"), empty).unwrap();
        let pulled = dir.path().join("pulled");
        run_ok(
            rko_in(&config)
                .env("REGISTRY_AUTH_FILE", &auth_file)
                .arg("pull")
                .arg(format!("{host}/app:1"))
                .arg("--ca-cert")
                .arg(&ca)
                .arg("--out")
                .arg(&pulled),
        );
        assert_eq!(layout_digest(&pulled), layout_digest(&image));
        fs::remove_dir_all(&pulled).unwrap();
    }
}

#[test]
fn login_and_logout_refuse_a_config_they_cannot_carry_over_and_leave_it_untouched() {
    let dir = temp_dir();
    let config = dir.path().join("docker");
    fs::create_dir_all(&config).unwrap();
    let file = config.join("config.json");
    for (content, reason) in [
        (r#"{"auths": "reg.io"}"#, "\"auths\" is a string"),
        (r#"{"auths": ["reg.io"]}"#, "\"auths\" is an array"),
        (r#"{"auths": 5}"#, "\"auths\" is a number"),
        (r#"[{"auths": {}}]"#, "is an array, not a JSON object"),
        (r#""auths""#, "is a string, not a JSON object"),
    ] {
        fs::write(&file, content).unwrap();
        for verb in ["login", "logout"] {
            let mut cmd = if verb == "login" {
                auth_login(&config, "reg.io")
            } else {
                let mut cmd = rko_in(&config);
                cmd.args(["logout", "reg.io"]);
                cmd
            };
            let err = run_err(&mut cmd);
            assert!(
                err.contains(&file.display().to_string()) && err.contains(reason),
                "{verb} with {content}: {err}"
            );
            assert_eq!(fs::read_to_string(&file).unwrap(), content, "{verb}");
        }
    }
}

#[test]
fn a_login_keeps_every_value_it_does_not_understand_as_written() {
    let dir = temp_dir();
    let config = dir.path().join("docker");
    fs::create_dir_all(&config).unwrap();
    let file = config.join("config.json");
    let others = [
        r#""zeta": 12345678901234567890123"#,
        r#""huge": 1.0e400"#,
        r#""exact": [1.50, -0.0, 1E+2, "\u00e9"]"#,
        r#""nested": {"z": 1, "a": {"n": 99999999999999999999999999}}"#,
        r#""alpha": "last""#,
    ];
    let original = format!(
        "{{\n\t{},\n\t\"auths\": {{\n\t\t\"other.io\": {{\n\t\t\t\"auth\": \"bWU6cHc=\"\n\t\t}}\n\t}},\n\t{}\n}}\n",
        others[..4].join(",\n\t"),
        others[4]
    );
    fs::write(&file, &original).unwrap();
    run_ok(&mut auth_login(&config, "reg.io"));
    let written = fs::read_to_string(&file).unwrap();
    let mut at = 0;
    for member in others {
        let found = written[at..]
            .find(member)
            .unwrap_or_else(|| panic!("{member} lost or moved:\n{written}"));
        at += found + member.len();
    }
    for registry in ["reg.io", "other.io"] {
        let got = run_ok(rko_in(&config).args(["auth", "get", registry]));
        assert_eq!(
            got.trim(),
            r#"{"Username":"me","Secret":"pw"}"#,
            "{written}"
        );
    }
    // And logging out keeps them too.
    run_ok(rko_in(&config).args(["logout", "reg.io"]));
    let written = fs::read_to_string(&file).unwrap();
    for member in others {
        assert!(written.contains(member), "{member}:\n{written}");
    }
    assert!(!written.contains("reg.io"), "{written}");
}

#[test]
fn three_logins_at_once_all_land_in_each_of_ten_rounds() {
    let dir = temp_dir();
    let config = dir.path().join("docker");
    fs::create_dir_all(&config).unwrap();
    let file = config.join("config.json");
    let registries = ["one.io", "two.io", "three.io"];
    for round in 0..10 {
        fs::write(&file, "{}").unwrap();
        let children: Vec<_> = registries
            .iter()
            .map(|registry| {
                auth_login(&config, registry)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let saved = read_json(&file);
        for registry in registries {
            assert!(
                saved["auths"][registry]["auth"].is_string(),
                "round {round}: {registry} lost: {saved}"
            );
        }
    }
}
