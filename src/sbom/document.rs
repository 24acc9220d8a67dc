//! Software bills of materials from a Go binary's own build information:
//! SPDX 2.3 JSON or CycloneDX 1.5 JSON, the same bytes for the same inputs
//! (the document namespace and serial number derive from the content, the
//! time from `created`); or ko's `go.version-m`, the text `go version -m`
//! prints.

use crate::digest;
use crate::error::{Error, Result};
use crate::image::config::rfc3339;
use crate::sbom::buildinfo::{BuildInfo, Module};
use base64::Engine as _;
use oci_spec::image::Digest;
use serde_json::{json, Value};

/// The SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Spdx,
    CycloneDx,
    /// What `go version -m` prints, as ko's `--sbom=go.version-m` wrote it
    /// (ko v0.16 and before); for images only.
    GoVersionM,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "spdx" => Ok(Format::Spdx),
            "cyclonedx" => Ok(Format::CycloneDx),
            "go.version-m" => Ok(Format::GoVersionM),
            other => Err(Error::invalid(format!(
                "unknown SBOM format {other:?}: expected spdx, cyclonedx or go.version-m"
            ))),
        }
    }
}

impl Format {
    /// The media type of the document, also the artifact type of its manifest.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => "application/spdx+json",
            Format::CycloneDx => "application/vnd.cyclonedx+json",
            Format::GoVersionM => "application/vnd.go.version-m",
        }
    }

    /// The file name ending ko uses.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Spdx => "spdx.json",
            Format::CycloneDx => "cyclonedx.json",
            Format::GoVersionM => "go.version-m",
        }
    }
}

/// The image an SBOM describes, when there is one.
#[derive(Debug, Clone, Default)]
pub struct ImageRef {
    /// `registry/repository`, or a bare name.
    pub name: String,
    pub digest: Option<Digest>,
}

/// What to say besides the build information.
#[derive(Debug, Clone, Default)]
pub struct SbomOptions {
    pub image: Option<ImageRef>,
    pub base: Option<ImageRef>,
    /// Where the binary sits in the image (`/ko-app/NAME`).
    pub binary_path: Option<String>,
    /// Seconds since the epoch.
    pub created: u64,
}

/// The SBOM of one binary (and the image holding it): JSON, or text for
/// go.version-m.
pub fn generate(format: Format, info: &BuildInfo, options: &SbomOptions) -> Vec<u8> {
    let value = match format {
        Format::Spdx => spdx(info, options),
        Format::CycloneDx => cyclonedx(info, options),
        Format::GoVersionM => return go_version_m(info, options.binary_path.as_deref()),
    };
    let mut bytes = serde_json::to_vec_pretty(&value).expect("JSON values serialize");
    bytes.push(b'\n');
    bytes
}

/// What `go version -m FILE` prints (cmd/go's `version.go`: `FILE: GOVERSION`,
/// then the module information indented by a tab), with FILE the binary's
/// path in the image, as ko's `goversionm` replaces it.
fn go_version_m(info: &BuildInfo, binary_path: Option<&str>) -> Vec<u8> {
    let mut text = format!(
        "{}: {}\n",
        binary_path.unwrap_or(&info.path),
        info.go_version
    );
    for line in info.modinfo.lines() {
        text.push('\t');
        text.push_str(line);
        text.push('\n');
    }
    text.into_bytes()
}

/// `pkg:oci/NAME@DIGEST?repository_url=REGISTRY/PATH` (purl spec, type oci).
fn oci_purl(image: &ImageRef) -> String {
    let (repository, name) = match image.name.rsplit_once('/') {
        Some((_, name)) => (Some(image.name.as_str()), name),
        None => (None, image.name.as_str()),
    };
    let mut purl = format!("pkg:oci/{}", name.to_lowercase());
    if let Some(digest) = &image.digest {
        purl.push_str(&format!("@{}", digest.to_string().replace(':', "%3A")));
    }
    if let Some(repository) = repository {
        purl.push_str(&format!("?repository_url={repository}"));
    }
    purl
}

/// `pkg:golang/PATH@VERSION` (no version for `(devel)`).
fn golang_purl(module: &Module) -> String {
    match module.version.as_str() {
        "" | "(devel)" => format!("pkg:golang/{}", module.path),
        version => format!("pkg:golang/{}@{version}", module.path),
    }
}

/// The SHA-256 inside an `h1:` sum (base64 of the dirhash), as hex.
fn h1_sha256(sum: &str) -> Option<String> {
    let encoded = sum.strip_prefix("h1:")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (raw.len() == 32).then(|| hex::encode(raw))
}

fn modules(info: &BuildInfo) -> impl Iterator<Item = &Module> {
    std::iter::once(&info.main).chain(info.deps.iter())
}

/// A valid, unique SPDX identifier for a module.
fn spdx_id(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let hash = digest::sha256(name.as_bytes()).digest()[..8].to_string();
    format!("SPDXRef-{kind}-{clean}-{hash}")
}

/// A stable identifier for this SBOM's content.
fn content_id(info: &BuildInfo, options: &SbomOptions) -> String {
    let image = options
        .image
        .as_ref()
        .map(|i| format!("{}@{:?}", i.name, i.digest))
        .unwrap_or_default();
    let text = format!(
        "{info:?}|{image}|{:?}",
        options.base.as_ref().map(|b| (&b.name, &b.digest))
    );
    digest::sha256(text.as_bytes()).digest().to_string()
}

fn spdx(info: &BuildInfo, options: &SbomOptions) -> Value {
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let main_id = spdx_id("Package", &info.main.path);
    let describes = if let Some(image) = &options.image {
        let id = spdx_id("Image", &image.name);
        packages.push(spdx_image_package(&id, image));
        relationships.push(json!({"spdxElementId": id, "relationshipType": "CONTAINS", "relatedSpdxElement": main_id}));
        if let Some(base) = &options.base {
            let base_id = spdx_id("Image", &format!("base-{}", base.name));
            packages.push(spdx_image_package(&base_id, base));
            relationships.push(json!({"spdxElementId": id, "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": base_id}));
        }
        id
    } else {
        main_id.clone()
    };
    for module in modules(info) {
        let id = spdx_id("Package", &module.path);
        if !std::ptr::eq(module, &info.main) {
            relationships.push(json!({"spdxElementId": main_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": id}));
        }
        packages.push(spdx_module_package(&id, module, info, options));
    }
    relationships.insert(0, json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": describes}));
    let name = options
        .image
        .as_ref()
        .map_or(info.path.clone(), |i| i.name.clone());
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("sbom-{name}"),
        "documentNamespace": format!("https://rko.dev/spdxdocs/{}", content_id(info, options)),
        "creationInfo": {
            "created": rfc3339(options.created),
            "creators": [format!("Tool: rko-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// An SPDX package for one Go module; the main module says how it was
/// built and where the binary is.
fn spdx_module_package(
    id: &str,
    module: &Module,
    info: &BuildInfo,
    options: &SbomOptions,
) -> Value {
    let mut package = json!({
        "SPDXID": id,
        "name": module.path,
        "versionInfo": module.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": golang_purl(module)}],
    });
    if let Some(sha) = h1_sha256(&module.sum) {
        package["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sha}]);
    }
    if let Some(replace) = &module.replace {
        package["comment"] = json!(format!("replaced by {} {}", replace.path, replace.version)
            .trim_end()
            .to_string());
    }
    if std::ptr::eq(module, &info.main) {
        package["primaryPackagePurpose"] = json!("APPLICATION");
        let mut comment = format!("main package {} built with {}", info.path, info.go_version);
        if let Some(path) = &options.binary_path {
            comment.push_str(&format!(", installed at {path}"));
        }
        package["comment"] = json!(comment);
    }
    package
}

/// An SPDX package for a container image.
fn spdx_image_package(id: &str, image: &ImageRef) -> Value {
    json!({
        "SPDXID": id,
        "name": image.name,
        "versionInfo": image.digest.as_ref().map(|d| d.to_string()).unwrap_or_default(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": oci_purl(image)}],
    })
}

/// A version 5-style UUID from content, for a reproducible serial number.
fn uuid_from(id: &str) -> String {
    let mut b: Vec<u8> = hex::decode(&id[..32]).expect("hex digest");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn cyclonedx(info: &BuildInfo, options: &SbomOptions) -> Value {
    let component = |module: &Module, kind: &str| {
        let mut c = json!({
            "bom-ref": golang_purl(module),
            "type": kind,
            "name": module.path,
            "version": module.version,
            "purl": golang_purl(module),
        });
        if let Some(sha) = h1_sha256(&module.sum) {
            c["hashes"] = json!([{"alg": "SHA-256", "content": sha}]);
        }
        if let Some(replace) = &module.replace {
            c["properties"] = json!([{"name": "rko:replaced-by", "value": format!("{} {}", replace.path, replace.version).trim_end()}]);
        }
        c
    };
    let mut main = component(&info.main, "application");
    let mut properties = vec![
        json!({"name": "rko:go-version", "value": info.go_version}),
        json!({"name": "rko:main-package", "value": info.path}),
    ];
    if let Some(path) = &options.binary_path {
        properties.push(json!({"name": "rko:binary-path", "value": path}));
    }
    main["properties"] = json!(properties);
    let main_ref = golang_purl(&info.main);
    let mut components = vec![main];
    let mut dependencies = vec![
        json!({"ref": main_ref, "dependsOn": info.deps.iter().map(golang_purl).collect::<Vec<_>>()}),
    ];
    for dep in &info.deps {
        components.push(component(dep, "library"));
        dependencies.push(json!({"ref": golang_purl(dep), "dependsOn": []}));
    }
    let subject = match &options.image {
        Some(image) => {
            let mut c = json!({
                "bom-ref": oci_purl(image),
                "type": "container",
                "name": image.name,
                "purl": oci_purl(image),
            });
            if let Some(digest) = &image.digest {
                c["version"] = json!(digest.to_string());
            }
            if let Some(base) = &options.base {
                c["pedigree"] = json!({"ancestors": [{"bom-ref": oci_purl(base), "type": "container", "name": base.name, "purl": oci_purl(base)}]});
            }
            dependencies.insert(0, json!({"ref": oci_purl(image), "dependsOn": [main_ref]}));
            c
        }
        None => {
            json!({"bom-ref": format!("{main_ref}#binary"), "type": "application", "name": info.path})
        }
    };
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&content_id(info, options))),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(options.created),
            "tools": {"components": [{"type": "application", "name": "rko", "version": env!("CARGO_PKG_VERSION")}]},
            "component": subject,
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// The SBOM of an index: the index and the image for each platform; none
/// for go.version-m, which describes a binary (as in ko).
pub fn generate_index(
    format: Format,
    index: &ImageRef,
    images: &[(String, Digest)],
    created: u64,
) -> Option<Vec<u8>> {
    let id = digest::sha256(format!("{}{:?}{images:?}", index.name, index.digest).as_bytes())
        .digest()
        .to_string();
    let value = match format {
        Format::Spdx => {
            let index_id = spdx_id("Index", &index.name);
            let mut packages = vec![json!({
                "SPDXID": index_id, "name": index.name,
                "versionInfo": index.digest.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "CONTAINER",
                "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": oci_purl(index)}],
            })];
            let mut relationships = vec![
                json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": index_id}),
            ];
            for (platform, digest) in images {
                let image = ImageRef {
                    name: index.name.clone(),
                    digest: Some(digest.clone()),
                };
                let image_id = spdx_id("Image", &format!("{platform}-{digest}"));
                packages.push(json!({
                    "SPDXID": image_id, "name": format!("{} ({platform})", index.name), "versionInfo": digest.to_string(),
                    "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "primaryPackagePurpose": "CONTAINER",
                    "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": oci_purl(&image)}],
                }));
                relationships.push(json!({"spdxElementId": index_id, "relationshipType": "CONTAINS", "relatedSpdxElement": image_id}));
            }
            json!({
                "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
                "name": format!("sbom-{}", index.name),
                "documentNamespace": format!("https://rko.dev/spdxdocs/{id}"),
                "creationInfo": {"created": rfc3339(created), "creators": [format!("Tool: rko-{}", env!("CARGO_PKG_VERSION"))]},
                "packages": packages, "relationships": relationships,
            })
        }
        Format::CycloneDx => {
            let components: Vec<Value> = images
                .iter()
                .map(|(platform, digest)| {
                    let image = ImageRef { name: index.name.clone(), digest: Some(digest.clone()) };
                    json!({"bom-ref": oci_purl(&image), "type": "container", "name": index.name, "version": digest.to_string(),
                           "purl": oci_purl(&image), "properties": [{"name": "rko:platform", "value": platform}]})
                })
                .collect();
            let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
            json!({
                "bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": format!("urn:uuid:{}", uuid_from(&id)), "version": 1,
                "metadata": {
                    "timestamp": rfc3339(created),
                    "tools": {"components": [{"type": "application", "name": "rko", "version": env!("CARGO_PKG_VERSION")}]},
                    "component": {"bom-ref": oci_purl(index), "type": "container", "name": index.name, "purl": oci_purl(index)},
                },
                "components": components,
                "dependencies": [{"ref": oci_purl(index), "dependsOn": refs}],
            })
        }
        Format::GoVersionM => return None,
    };
    let mut bytes = serde_json::to_vec_pretty(&value).expect("JSON values serialize");
    bytes.push(b'\n');
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BuildInfo {
        BuildInfo {
            go_version: "go1.23.4".into(),
            path: "example.com/app/cmd/web".into(),
            main: Module {
                path: "example.com/app".into(),
                version: "(devel)".into(),
                sum: String::new(),
                replace: None,
            },
            deps: vec![Module {
                path: "golang.org/x/text".into(),
                version: "v0.14.0".into(),
                sum: "h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=".into(),
                replace: None,
            }],
            settings: vec![("-trimpath".into(), "true".into())],
            modinfo: "path\texample.com/app/cmd/web\nmod\texample.com/app\t(devel)\t\n\
                      dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n\
                      build\t-trimpath=true\n"
                .into(),
        }
    }

    #[test]
    fn go_version_m_is_what_go_version_m_prints_for_the_path_in_the_image() {
        let options = SbomOptions {
            binary_path: Some("/ko-app/web".into()),
            ..Default::default()
        };
        let text = String::from_utf8(generate(Format::GoVersionM, &info(), &options)).unwrap();
        assert_eq!(
            text,
            "/ko-app/web: go1.23.4\n\
             \tpath\texample.com/app/cmd/web\n\
             \tmod\texample.com/app\t(devel)\t\n\
             \tdep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n\
             \tbuild\t-trimpath=true\n"
        );
        let index = ImageRef::default();
        assert_eq!(generate_index(Format::GoVersionM, &index, &[], 0), None);
    }

    #[test]
    fn h1_sums_become_sha256_hex() {
        assert_eq!(
            h1_sha256("h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=").unwrap(),
            "49c5f9c357936b742a4fca22ebece23fb7535754b6f802d4d1b23ed335ca5a24"
        );
        assert_eq!(h1_sha256("h1:short"), None);
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes_and_ids_differ_by_content() {
        let options = SbomOptions {
            created: 1_700_000_000,
            ..Default::default()
        };
        for format in [Format::Spdx, Format::CycloneDx] {
            assert_eq!(
                generate(format, &info(), &options),
                generate(format, &info(), &options)
            );
        }
        let a = String::from_utf8(generate(Format::CycloneDx, &info(), &options)).unwrap();
        let mut other = info();
        other.deps[0].version = "v0.15.0".into();
        let b = String::from_utf8(generate(Format::CycloneDx, &other, &options)).unwrap();
        let serial = |s: &str| {
            s.lines()
                .find(|l| l.contains("serialNumber"))
                .unwrap()
                .to_string()
        };
        assert_ne!(serial(&a), serial(&b));
        assert!(serial(&a).contains("urn:uuid:"));
    }

    #[test]
    fn purls_follow_the_spec() {
        let image = ImageRef {
            name: "registry.example/team/web".into(),
            digest: Some(crate::digest::sha256(b"x")),
        };
        assert!(oci_purl(&image).starts_with("pkg:oci/web@sha256%3A"));
        assert!(oci_purl(&image).ends_with("?repository_url=registry.example/team/web"));
        assert_eq!(
            golang_purl(&info().deps[0]),
            "pkg:golang/golang.org/x/text@v0.14.0"
        );
        assert_eq!(golang_purl(&info().main), "pkg:golang/example.com/app");
    }
}
