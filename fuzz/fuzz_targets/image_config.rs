//! A base image's config (any JSON a registry or layout holds) as `append`
//! edits it for ko's conventions: the edits always land, the layer is
//! appended to `rootfs` and `history`, and rko's canonical JSON of the
//! result reads back to the same value and bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::fuzzing::{apply_config, canonical_json, ConfigEdits, LayerDescriptor};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let history_before = config["history"].as_array().map_or(0, Vec::len);
    let diff_ids_before = config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    let layer: LayerDescriptor = serde_json::from_value(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": format!("sha256:{}", "a".repeat(64)),
        "size": 3,
        "diffID": format!("sha256:{}", "b".repeat(64)),
    }))
    .unwrap();
    let edits = ConfigEdits {
        env: vec![("FOO".into(), "bar".into())],
        labels: vec![("org.example".into(), "x".into())],
        user: Some("65532".into()),
        ko_app: Some("app".into()),
        created: 1_700_000_000,
        ..ConfigEdits::default()
    };
    let edited = apply_config(config, &edits, std::slice::from_ref(&layer));

    let runtime = &edited["config"];
    let windows = edited["os"] == "windows";
    let app = if windows {
        "C:\\ko-app\\app"
    } else {
        "/ko-app/app"
    };
    assert_eq!(runtime["Entrypoint"], json!([app]));
    assert!(runtime.get("Cmd").is_none());
    assert_eq!(runtime["User"], "65532");
    assert_eq!(runtime["Labels"]["org.example"], "x");
    let env: Vec<&str> = runtime["Env"]
        .as_array()
        .expect("Env is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"FOO=bar"), "{env:?}");
    let path = env.iter().find_map(|e| e.strip_prefix("PATH="));
    let app_dir = if windows { "C:\\ko-app" } else { "/ko-app" };
    assert!(
        path.is_some_and(|p| p == app_dir || p.ends_with(&format!(":{app_dir}"))),
        "{env:?}"
    );
    assert_eq!(
        edited["history"].as_array().unwrap().len(),
        history_before + 1
    );
    let diff_ids = edited["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), diff_ids_before + 1);
    assert_eq!(diff_ids.last().unwrap(), &json!(layer.diff_id.to_string()));

    let bytes = canonical_json(&edited);
    let read: Value = serde_json::from_slice(&bytes).expect("canonical JSON parses");
    assert_eq!(read, edited);
    assert_eq!(canonical_json(&read), bytes);
});
