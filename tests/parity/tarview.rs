//! A layer's tar headers as ko's and rko's readers would care: where two
//! layers' diffIDs differ, the first header field that differs says why.

use std::io::Read;

/// One entry's header, every field that goes into the diffID but content.
#[derive(Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub kind: char,
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub mtime: u64,
    pub size: u64,
    pub link: String,
    pub pax: Vec<(String, String)>,
    /// The content's SHA-256, hex.
    pub content: String,
}

/// The headers of a gzip-compressed layer.
pub fn headers(gzipped: &[u8]) -> Result<Vec<Header>, String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    let mut headers = Vec::new();
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let pax = match entry.pax_extensions().map_err(|e| e.to_string())? {
            Some(records) => records
                .filter_map(Result::ok)
                .map(|r| {
                    let value = String::from_utf8_lossy(r.value_bytes()).into_owned();
                    (r.key().unwrap_or("?").to_string(), value)
                })
                .collect(),
            None => Vec::new(),
        };
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        headers.push(Header {
            name: String::from_utf8_lossy(&header.path_bytes()).into_owned(),
            kind: header.entry_type().as_byte() as char,
            mode: format!("{:o}", header.mode().unwrap_or(0)),
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            uname: String::from_utf8_lossy(header.username_bytes().unwrap_or_default()).into(),
            gname: String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default()).into(),
            mtime: header.mtime().unwrap_or(0),
            size: header.size().unwrap_or(0),
            link: header
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            pax,
            content: sha256_hex(&data),
        });
    }
    Ok(headers)
}

/// The first difference between two layers' entries, as `entry: field
/// ko-value vs rko-value`, or `None` when every header and content agree
/// (then only the tar framing differs).
pub fn first_difference(ko: &[Header], rko: &[Header]) -> Option<String> {
    for (i, (a, b)) in ko.iter().zip(rko).enumerate() {
        let fields: [(&str, String, String); 10] = [
            ("name", a.name.clone(), b.name.clone()),
            ("type", a.kind.to_string(), b.kind.to_string()),
            ("mode", a.mode.clone(), b.mode.clone()),
            (
                "uid/gid",
                format!("{}/{}", a.uid, a.gid),
                format!("{}/{}", b.uid, b.gid),
            ),
            (
                "uname/gname",
                format!("{}/{}", a.uname, a.gname),
                format!("{}/{}", b.uname, b.gname),
            ),
            ("mtime", a.mtime.to_string(), b.mtime.to_string()),
            ("size", a.size.to_string(), b.size.to_string()),
            ("link", a.link.clone(), b.link.clone()),
            ("pax", format!("{:?}", a.pax), format!("{:?}", b.pax)),
            ("content", a.content.clone(), b.content.clone()),
        ];
        if let Some((field, x, y)) = fields.into_iter().find(|(_, x, y)| x != y) {
            return Some(format!(
                "entry {i} ({}): {field} {x:?} (ko) vs {y:?} (rko)",
                a.name
            ));
        }
    }
    match ko.len().cmp(&rko.len()) {
        std::cmp::Ordering::Equal => None,
        _ => Some(format!(
            "{} entries (ko) vs {} (rko); first extra: {:?}",
            ko.len(),
            rko.len(),
            ko.get(rko.len()).or(rko.get(ko.len())).map(|h| &h.name)
        )),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
