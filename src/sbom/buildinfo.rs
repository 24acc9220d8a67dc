//! The build information Go embeds in every binary since Go 1.18 (what
//! `go version -m` prints), read straight from the executable: no `go`.
//!
//! Format (Go's `debug/buildinfo`): a 32-byte header starting with the magic
//! `"\xff Go buildinf:"`, then the pointer size and a flags byte; with flag
//! 0x2 ("inline strings", Go 1.18+) the Go version and the module info follow
//! as uvarint-length-prefixed strings. The header lives in the `.go.buildinfo`
//! section of an ELF file; for Mach-O and PE the data segments are searched
//! for it, as Go itself does.

use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const FLAG_INLINE_STRINGS: u8 = 0x2;

/// A module as the binary records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// The `h1:` checksum, empty for the main module and replaced local modules.
    pub sum: String,
    /// What `replace` put in its place, if anything.
    pub replace: Option<Box<Module>>,
}

/// Everything `go version -m` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub go_version: String,
    /// The main package's import path.
    pub path: String,
    pub main: Module,
    pub deps: Vec<Module>,
    /// `-trimpath`, `CGO_ENABLED`, `GOOS`, `GOARCH`, `vcs.revision`, ... in order.
    pub settings: Vec<(String, String)>,
    /// The module information as Go embedded it (`runtime/debug.BuildInfo.String`
    /// without the Go version): what `go version -m` prints, indented.
    pub modinfo: String,
}

impl BuildInfo {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the build information of the Go executable at `path`: of an ELF
/// file only its `.go.buildinfo` section, which holds it all (a binary is
/// megabytes, the section a few kilobytes); of anything else, or when that
/// section cannot be read, the whole file.
pub fn read(path: &Path) -> Result<BuildInfo> {
    let section = std::fs::File::open(path)
        .ok()
        .and_then(|file| elf_section(&file));
    if let Some(info) = section.and_then(|section| decode(path, &section, 0).ok()) {
        return Ok(info);
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    let bad = |why: &str| Error::file(path, why);
    let header_at = match executable_kind(&bytes) {
        Some(Kind::Elf) => elf_buildinfo_offset(&bytes).or_else(|| find_magic(&bytes)),
        Some(Kind::MachO | Kind::Pe) => find_magic(&bytes),
        None => return Err(bad("not an executable (ELF, Mach-O or PE)")),
    }
    .ok_or_else(|| bad("no Go build information in it: not a Go binary"))?;
    decode(path, &bytes, header_at)
}

/// The build information whose 32-byte header is at `header_at` in `bytes`
/// (read from `path`).
fn decode(path: &Path, bytes: &[u8], header_at: usize) -> Result<BuildInfo> {
    let bad = |why: &str| Error::file(path, why);
    let header = bytes
        .get(header_at..header_at + 32)
        .ok_or_else(|| bad("the Go build information is cut short: the file is truncated"))?;
    let flags = header[15];
    if flags & FLAG_INLINE_STRINGS == 0 {
        return Err(bad(
            "built with a Go older than 1.18, whose build information rko does not read",
        ));
    }
    let mut rest = &bytes[header_at + 32..];
    let truncated = || bad("the Go build information is cut short: the file is truncated");
    let go_version = read_bytes(&mut rest).ok_or_else(truncated)?;
    let modinfo = read_bytes(&mut rest).ok_or_else(truncated)?;
    // The module info is framed by 16-byte (binary) sentinels.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        &[][..]
    };
    parse(
        &String::from_utf8_lossy(go_version),
        &String::from_utf8_lossy(modinfo),
    )
    .map_err(|why| bad(&why))
}

enum Kind {
    Elf,
    MachO,
    Pe,
}

fn executable_kind(bytes: &[u8]) -> Option<Kind> {
    match bytes.get(..4)? {
        [0x7f, b'E', b'L', b'F'] => Some(Kind::Elf),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf]
        | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
        | [0xca, 0xfe, 0xba, 0xbe] => Some(Kind::MachO),
        [b'M', b'Z', _, _] => Some(Kind::Pe),
        _ => None,
    }
}

/// The file offset of the `.go.buildinfo` section, from the section headers.
fn elf_buildinfo_offset(bytes: &[u8]) -> Option<usize> {
    let class64 = *bytes.get(4)? == 2;
    let little = *bytes.get(5)? == 1;
    let u16_at = |o: usize| -> Option<usize> {
        let b: [u8; 2] = bytes.get(o..o.checked_add(2)?)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        } as usize)
    };
    let u32_at = |o: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(o..o.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize)
    };
    let u64_at = |o: usize| -> Option<usize> {
        let b: [u8; 8] = bytes.get(o..o.checked_add(8)?)?.try_into().ok()?;
        usize::try_from(if little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
        .ok()
    };
    let word = |o: usize| if class64 { u64_at(o) } else { u32_at(o) };
    let (shoff, shentsize, shnum, shstrndx) = if class64 {
        (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?)
    } else {
        (u32_at(0x20)?, u16_at(0x2e)?, u16_at(0x30)?, u16_at(0x32)?)
    };
    // sh_name at 0; sh_offset at 0x18 (64-bit) or 0x10 (32-bit). The
    // header's numbers are anyone's: every sum is checked.
    let offset_field = if class64 { 0x18 } else { 0x10 };
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let names = word(section(shstrndx)?.checked_add(offset_field)?)?;
    (0..shnum).find_map(|i| {
        let name_at = names.checked_add(u32_at(section(i)?)?)?;
        let name = bytes.get(name_at..)?.split(|&b| b == 0).next()?;
        if name != b".go.buildinfo" {
            return None;
        }
        let offset = word(section(i)?.checked_add(offset_field)?)?;
        (bytes.get(offset..offset.checked_add(MAGIC.len())?) == Some(MAGIC)).then_some(offset)
    })
}

/// The largest `.go.buildinfo` section read on its own; anything larger
/// is not Go's, and the whole file is searched instead.
const SECTION_LIMIT: u64 = 16 << 20;

/// The bytes of an ELF file's `.go.buildinfo` section, read through its
/// section headers (see [`elf_buildinfo_offset`]) without reading the rest,
/// when it starts with the magic.
fn elf_section(file: &std::fs::File) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let read = |offset: u64, len: u64| -> Option<Vec<u8>> {
        let mut buf = vec![0; usize::try_from(len.min(SECTION_LIMIT)).ok()?];
        file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    };
    let header = read(0, 64)?;
    if header[..4] != [0x7f, b'E', b'L', b'F'] {
        return None;
    }
    let (class64, little) = (header[4] == 2, header[5] == 1);
    let field = |bytes: &[u8], at: usize, size: usize| -> Option<u64> {
        let b = bytes.get(at..at + size)?;
        let mut value = 0u64;
        for i in 0..size {
            let byte = if little { b[size - 1 - i] } else { b[i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let word = if class64 { 8 } else { 4 };
    let (shoff, shentsize, shnum, shstrndx) = if class64 {
        (
            field(&header, 0x28, 8)?,
            field(&header, 0x3a, 2)?,
            field(&header, 0x3c, 2)?,
            field(&header, 0x3e, 2)?,
        )
    } else {
        (
            field(&header, 0x20, 4)?,
            field(&header, 0x2e, 2)?,
            field(&header, 0x30, 2)?,
            field(&header, 0x32, 2)?,
        )
    };
    let table = read(shoff, shentsize * shnum)?;
    // sh_name at 0; sh_offset and sh_size after sh_type, sh_flags, sh_addr.
    let (offset_at, size_at) = if class64 { (0x18, 0x20) } else { (0x10, 0x14) };
    let section = |i: u64| -> Option<(u64, u64, u64)> {
        let at = usize::try_from(i * shentsize).ok()?;
        Some((
            field(&table, at, 4)?,
            field(&table, at + offset_at, word)?,
            field(&table, at + size_at, word)?,
        ))
    };
    let (_, names_at, names_size) = section(shstrndx)?;
    let names = read(names_at, names_size)?;
    let (offset, size) = (0..shnum).find_map(|i| {
        let (name, offset, size) = section(i)?;
        let name = names
            .get(usize::try_from(name).ok()?..)?
            .split(|&b| b == 0)
            .next()?;
        (name == b".go.buildinfo").then_some((offset, size))
    })?;
    let bytes = read(offset, size)?;
    bytes.starts_with(MAGIC).then_some(bytes)
}

/// The first 16-byte-aligned occurrence of the magic.
fn find_magic(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + MAGIC.len() <= bytes.len() {
        let found = bytes[at..].windows(MAGIC.len()).position(|w| w == MAGIC)? + at;
        if found % 16 == 0 {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

/// A uvarint length, then that many bytes.
fn read_bytes<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut length: u64 = 0;
    let mut shift = 0;
    let mut used: usize = 0;
    for &byte in data.iter() {
        used += 1;
        length |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let length = usize::try_from(length).ok()?;
    let end = used.checked_add(length)?;
    let text = data.get(used..end)?;
    *data = &data[end..];
    Some(text)
}

/// Parses the module info text (`runtime/debug.BuildInfo.String` format).
fn parse(go_version: &str, modinfo: &str) -> std::result::Result<BuildInfo, String> {
    let mut info = BuildInfo {
        go_version: go_version.to_string(),
        path: String::new(),
        main: Module {
            path: String::new(),
            version: String::new(),
            sum: String::new(),
            replace: None,
        },
        deps: Vec::new(),
        settings: Vec::new(),
        modinfo: modinfo.to_string(),
    };
    let module = |fields: &[&str]| Module {
        path: fields.first().unwrap_or(&"").to_string(),
        version: fields.get(1).unwrap_or(&"").to_string(),
        sum: fields.get(2).unwrap_or(&"").to_string(),
        replace: None,
    };
    let mut last_was_dep = false;
    for line in modinfo.lines().filter(|l| !l.is_empty()) {
        let (key, rest) = line.split_once('\t').unwrap_or((line, ""));
        let fields: Vec<&str> = rest.split('\t').collect();
        match key {
            "path" => info.path = rest.to_string(),
            "mod" => {
                info.main = module(&fields);
                last_was_dep = false;
            }
            "dep" => {
                info.deps.push(module(&fields));
                last_was_dep = true;
            }
            "=>" => {
                let target = if last_was_dep {
                    info.deps.last_mut()
                } else {
                    Some(&mut info.main)
                };
                if let Some(target) = target {
                    target.replace = Some(Box::new(module(&fields)));
                }
            }
            "build" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                info.settings.push((k.to_string(), v.to_string()));
            }
            other => {
                return Err(format!(
                    "unexpected line {other:?} in the Go module information"
                ))
            }
        }
    }
    if info.path.is_empty() {
        return Err("the Go build information names no main package".to_string());
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_info_parses_like_go_version_m() {
        let text = "path\texample.com/app/cmd/web\nmod\texample.com/app\t(devel)\t\n\
                    dep\tgolang.org/x/text\tv0.14.0\th1:abc=\n\
                    dep\texample.com/local\tv0.0.0-00010101000000-000000000000\t\n\
                    =>\t../local\t(devel)\t\n\
                    build\t-trimpath=true\nbuild\tCGO_ENABLED=0\nbuild\t-ldflags=\"-s -w\"\n";
        let info = parse("go1.23.4", text).unwrap();
        assert_eq!(info.path, "example.com/app/cmd/web");
        assert_eq!(info.main.version, "(devel)");
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[0].sum, "h1:abc=");
        assert_eq!(info.deps[1].replace.as_ref().unwrap().path, "../local");
        assert_eq!(info.setting("-ldflags"), Some("-s -w"));
        assert_eq!(info.setting("CGO_ENABLED"), Some("0"));
    }

    /// Found by fuzzing (fuzz/, target buildinfo): section headers said to
    /// lie past the end of the address space overflowed an offset.
    #[test]
    fn elf_headers_pointing_past_any_file_are_no_go_binary() {
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        bytes.resize(0x12, 0);
        bytes.resize(893, 0xff);
        assert_eq!(elf_buildinfo_offset(&bytes), None);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        let err = read(file.path()).unwrap_err().to_string();
        assert!(err.contains("not a Go binary"), "{err}");
    }

    /// Seen while fixing the above: a length near 2^64 overflowed.
    #[test]
    fn a_string_longer_than_memory_is_cut_short() {
        let mut data = vec![0xff; 9];
        data.extend([0x01, b'a']);
        assert_eq!(read_bytes(&mut &data[..]), None);
    }

    #[test]
    fn strings_are_uvarint_prefixed() {
        let data = [3u8, b'a', b'b', b'c', 0x80, 0x01];
        let mut rest = &data[..];
        assert_eq!(read_bytes(&mut rest), Some(&b"abc"[..]));
        assert_eq!(
            read_bytes(&mut rest),
            None,
            "128 bytes announced, none there"
        );
    }
}
