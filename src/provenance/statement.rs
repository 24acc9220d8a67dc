//! The in-toto Statement v1 with a SLSA Provenance v1 predicate that rko
//! attaches to each image: what a rebuild needs, and nothing that differs
//! between two builds of the same inputs (no path, host or clock; the one
//! time is `SOURCE_DATE_EPOCH`). Written with sorted keys, so the same
//! inputs give the same bytes; read back by `rko verify`.
//!
//! Specs: in-toto attestation `spec/v1/statement.md`, SLSA
//! `spec/v1.0/provenance.md` ("buildDefinition", "runDetails").

use crate::digest;
use crate::error::{Error, Result};
use crate::image::config::rfc3339;
use crate::sbom::buildinfo::{BuildInfo, Module};
use base64::Engine as _;
use oci_spec::image::Digest;
use serde_json::{json, Map, Value};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What the statement's parameters mean: `rko build` of one import path
/// for one platform (docs/provenance.md, "The statement").
pub const BUILD_TYPE: &str = "https://rko.invalid/provenance/ko-build/v1";
/// rko as the builder; its version is in `builder.version`.
pub const BUILDER_ID: &str = "https://rko.invalid/provenance/builder/rko";

/// The base image as it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// As configured: `builtin:static`, `scratch`, or a reference.
    pub name: String,
    /// The digest of what it resolved to (none for `scratch`).
    pub digest: Option<Digest>,
}

/// The repository the sources came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub revision: String,
    /// No uncommitted change (`git status --porcelain` said nothing).
    pub clean: bool,
}

impl Source {
    /// What Go stamped into the binary (`vcs.revision`, `vcs.modified`),
    /// when it did.
    pub fn stamped(info: &BuildInfo) -> Option<Source> {
        Some(Source {
            revision: info.setting("vcs.revision")?.to_string(),
            clean: info.setting("vcs.modified") == Some("false"),
        })
    }
}

/// What one image was built from, as values.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The image the statement is about.
    pub image: &'a Digest,
    pub import_path: &'a str,
    pub platform: String,
    pub base: Base,
    /// The binary's own record of its toolchain, modules and settings.
    pub build_info: &'a BuildInfo,
    /// `.ko.yaml`'s `flags`, `ldflags` and `env` for the import path, as
    /// written (templates unrendered: the binary's settings say what they
    /// rendered to).
    pub flags: &'a [String],
    pub ldflags: &'a [String],
    pub env: &'a [(String, String)],
    /// The digest of `.ko.yaml`, when there is one.
    pub ko_yaml: Option<Digest>,
    pub source_date_epoch: Option<u64>,
    pub source: Option<Source>,
}

/// The statement's bytes: compact JSON, keys sorted.
pub fn generate(inputs: &Inputs) -> Vec<u8> {
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": inputs.import_path,
            "digest": {"sha256": inputs.image.digest()},
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external_parameters(inputs),
                "internalParameters": internal_parameters(inputs),
                "resolvedDependencies": resolved_dependencies(inputs),
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"rko": env!("CARGO_PKG_VERSION")},
                },
                "metadata": metadata(inputs),
            },
        },
    });
    crate::json::to_canonical_vec(&statement)
}

/// What the person building chose: what to build, for which platform, on
/// which base, with which configuration, at which time, from which tree.
fn external_parameters(inputs: &Inputs) -> Value {
    let mut params = Map::new();
    params.insert("importPath".into(), json!(inputs.import_path));
    params.insert("platform".into(), json!(inputs.platform));
    params.insert("baseImage".into(), json!(inputs.base.name));
    params.insert("flags".into(), json!(inputs.flags));
    params.insert("ldflags".into(), json!(inputs.ldflags));
    let env: Vec<String> = inputs.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    params.insert("env".into(), json!(env));
    if let Some(digest) = &inputs.ko_yaml {
        params.insert("koYaml".into(), json!({"sha256": digest.digest()}));
    }
    if let Some(epoch) = inputs.source_date_epoch {
        params.insert("sourceDateEpoch".into(), json!(epoch.to_string()));
    }
    if let Some(source) = &inputs.source {
        params.insert(
            "source".into(),
            json!({"revision": source.revision, "clean": source.clean}),
        );
    }
    Value::Object(params)
}

/// What Go recorded of its own build: its version and every build
/// setting (`-ldflags` as rendered, `-trimpath`, `CGO_ENABLED`, `GOARCH`,
/// `vcs.*`), in Go's order.
fn internal_parameters(inputs: &Inputs) -> Value {
    let info = inputs.build_info;
    let settings: Vec<Value> = info
        .settings
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    json!({"goVersion": info.go_version, "goBuildSettings": settings, "mainModule": info.main.path})
}

/// The base image, the Go toolchain and every module the binary holds.
fn resolved_dependencies(inputs: &Inputs) -> Vec<Value> {
    let mut deps = Vec::new();
    let mut base = Map::new();
    base.insert("name".into(), json!("base image"));
    base.insert("uri".into(), json!(base_uri(&inputs.base.name)));
    if let Some(digest) = &inputs.base.digest {
        base.insert("digest".into(), json!({"sha256": digest.digest()}));
    }
    deps.push(Value::Object(base));
    deps.push(json!({
        "name": "go toolchain",
        "uri": format!("pkg:golang/std@{}", inputs.build_info.go_version),
    }));
    for module in &inputs.build_info.deps {
        let used = module.replace.as_deref().unwrap_or(module);
        deps.push(module_dependency(module, used));
    }
    deps
}

/// `oci://` for a registry image; `builtin:static` and `scratch` as they are.
fn base_uri(name: &str) -> String {
    match name {
        "builtin:static" | "scratch" => format!("rko:{name}"),
        _ => format!("oci://{name}"),
    }
}

/// A module, with its `h1:` sum as a `dirHash` (in-toto `digest_set.md`:
/// the directory Hash1 in lowercase hex); a module replaced by a local
/// directory has no sum.
fn module_dependency(module: &Module, used: &Module) -> Value {
    let mut dep = Map::new();
    dep.insert(
        "uri".into(),
        json!(format!("pkg:golang/{}@{}", used.path, used.version)),
    );
    dep.insert("name".into(), json!(module.path));
    if let Some(hex) = dir_hash(&used.sum) {
        dep.insert("digest".into(), json!({"dirHash": hex}));
    }
    let mut annotations = Map::new();
    annotations.insert("version".into(), json!(used.version));
    annotations.insert("sum".into(), json!(used.sum));
    if !std::ptr::eq(module, used) {
        annotations.insert(
            "replaces".into(),
            json!(format!("{}@{}", module.path, module.version)),
        );
    }
    dep.insert("annotations".into(), Value::Object(annotations));
    Value::Object(dep)
}

/// `h1:<base64>` as lowercase hex.
fn dir_hash(sum: &str) -> Option<String> {
    let encoded = sum.strip_prefix("h1:")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some(hex::encode(bytes))
}

/// An invocation id that is a digest of the statement's inputs (never a
/// random one: the same build gives the same bytes), and the one time.
fn metadata(inputs: &Inputs) -> Value {
    let mut metadata = Map::new();
    let key = format!(
        "{}\n{}\n{}",
        inputs.import_path, inputs.platform, inputs.image
    );
    metadata.insert(
        "invocationId".into(),
        json!(digest::sha256(key.as_bytes()).to_string()),
    );
    if let Some(epoch) = inputs.source_date_epoch {
        metadata.insert("startedOn".into(), json!(rfc3339(epoch)));
        metadata.insert("finishedOn".into(), json!(rfc3339(epoch)));
    }
    Value::Object(metadata)
}

/// What `rko verify` reads back from a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub subject: Digest,
    pub import_path: String,
    pub platform: String,
    pub base: Base,
    pub go_version: String,
    pub ldflags_rendered: Option<String>,
    pub ko_yaml: Option<String>,
    pub source_date_epoch: Option<u64>,
    pub source: Option<Source>,
    pub rko_version: String,
}

/// Reads a statement written by [`generate`]; `what` names where it came
/// from, for errors.
pub fn read(bytes: &[u8], what: &str) -> Result<Recorded> {
    let bad = |message: &str| Error::invalid(format!("{what}: {message}"));
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(&format!("not a JSON in-toto statement: {e}")))?;
    if value["_type"] != STATEMENT_TYPE || value["predicateType"] != PREDICATE_TYPE {
        return Err(bad(
            "not an in-toto Statement v1 with a SLSA Provenance v1 predicate",
        ));
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let definition = &value["predicate"]["buildDefinition"];
    if definition["buildType"] != BUILD_TYPE {
        return Err(bad(&format!(
            "build type {} is not rko's ({BUILD_TYPE})",
            definition["buildType"]
        )));
    }
    let params = &definition["externalParameters"];
    let internal = &definition["internalParameters"];
    let subject = text(&value["subject"][0]["digest"]["sha256"])
        .ok_or_else(|| bad("its subject has no sha256 digest"))?;
    let base_digest = definition["resolvedDependencies"][0]["digest"]["sha256"]
        .as_str()
        .map(|hex| digest::parse(&format!("sha256:{hex}")))
        .transpose()?;
    let setting = |key: &str| {
        internal["goBuildSettings"]
            .as_array()?
            .iter()
            .find(|s| s["key"] == key)
            .and_then(|s| text(&s["value"]))
    };
    Ok(Recorded {
        subject: digest::parse(&format!("sha256:{subject}"))?,
        import_path: text(&params["importPath"]).ok_or_else(|| bad("no importPath"))?,
        platform: text(&params["platform"]).ok_or_else(|| bad("no platform"))?,
        base: Base {
            name: text(&params["baseImage"]).ok_or_else(|| bad("no baseImage"))?,
            digest: base_digest,
        },
        go_version: text(&internal["goVersion"]).ok_or_else(|| bad("no goVersion"))?,
        ldflags_rendered: setting("-ldflags"),
        ko_yaml: text(&params["koYaml"]["sha256"]),
        source_date_epoch: params["sourceDateEpoch"]
            .as_str()
            .and_then(|s| s.parse().ok()),
        source: params["source"]["revision"]
            .as_str()
            .map(|revision| Source {
                revision: revision.to_string(),
                clean: params["source"]["clean"] == true,
            }),
        rko_version: text(&value["predicate"]["runDetails"]["builder"]["version"]["rko"])
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BuildInfo {
        let module = |path: &str, version: &str, sum: &str| Module {
            path: path.to_string(),
            version: version.to_string(),
            sum: sum.to_string(),
            replace: None,
        };
        BuildInfo {
            go_version: "go1.26.0".to_string(),
            path: "example.com/hello".to_string(),
            main: module("example.com/hello", "(devel)", ""),
            deps: vec![module(
                "golang.org/x/text",
                "v0.3.0",
                "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            )],
            settings: vec![("-trimpath".to_string(), "true".to_string())],
            modinfo: String::new(),
        }
    }

    fn inputs<'a>(info: &'a BuildInfo, image: &'a Digest) -> Inputs<'a> {
        Inputs {
            image,
            import_path: "example.com/hello",
            platform: "linux/amd64".to_string(),
            base: Base {
                name: "builtin:static".to_string(),
                digest: Some(digest::sha256(b"base")),
            },
            build_info: info,
            flags: &[],
            ldflags: &[],
            env: &[],
            ko_yaml: None,
            source_date_epoch: Some(1_700_000_000),
            source: Some(Source {
                revision: "abc".to_string(),
                clean: true,
            }),
        }
    }

    #[test]
    fn a_statement_reads_back_what_it_records() {
        let (info, image) = (info(), digest::sha256(b"image"));
        let bytes = generate(&inputs(&info, &image));
        assert_eq!(bytes, generate(&inputs(&info, &image)));
        let recorded = read(&bytes, "test").unwrap();
        assert_eq!(recorded.subject, image);
        assert_eq!(recorded.platform, "linux/amd64");
        assert_eq!(recorded.base.digest, Some(digest::sha256(b"base")));
        assert_eq!(recorded.go_version, "go1.26.0");
        assert_eq!(recorded.source_date_epoch, Some(1_700_000_000));
        assert!(recorded.source.unwrap().clean);
        let text = String::from_utf8(bytes).unwrap();
        // in-toto digest_set.md's own example of a dirHash.
        assert!(text.contains(
            r#""dirHash":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855""#
        ));
    }
}
