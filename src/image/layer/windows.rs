//! Windows container layers as ko writes them (ko: pkg/build/gobuild.go,
//! tarBinary and tarKoData): the image's filesystem under `Files/`, an
//! empty `Hives/` directory first, and on every file the PAX record
//! `MSWINDOWS.rawsd` that lets Windows execute it.

use super::entry::{Entry, Kind, PaxRecords};
use crate::error::Result;
use std::collections::VecDeque;

/// The PAX key for a file's Windows security descriptor.
pub const RAWSD: &str = "MSWINDOWS.rawsd";

/// ko's `userOwnerAndGroupSID`: owner and group BUILTIN\Users
/// (SDDL `O:BUG:BU`), base64, "needed to make the binary executable".
pub const USERS_OWNER_AND_GROUP: &str =
    "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";

/// `entries` (in write order, parents first) moved under `Files/`, after
/// `Hives` and `Files` themselves, which take the mode and owner of the
/// first directory (ko: 0555, root). Entries before that directory are
/// held until it comes.
pub struct Layout<I> {
    entries: I,
    ready: VecDeque<Result<Entry>>,
    started: bool,
}

impl<I: Iterator<Item = Result<Entry>>> Layout<I> {
    pub fn new(entries: I) -> Self {
        Layout {
            entries,
            ready: VecDeque::new(),
            started: false,
        }
    }

    /// Takes entries up to the first directory and readies `Hives`, `Files`
    /// and those entries.
    fn start(&mut self) {
        let mut held = VecDeque::new();
        let mut template = None;
        for item in self.entries.by_ref() {
            let stop = match &item {
                Ok(e) if matches!(e.kind, Kind::Dir) => {
                    template = Some((e.mode, e.uid, e.gid));
                    true
                }
                Ok(_) => false,
                Err(_) => true,
            };
            held.push_back(item.map(under_files));
            if stop {
                break;
            }
        }
        let (mode, uid, gid) = template.unwrap_or((0o555, 0, 0));
        let dir = |path: &str| Entry {
            path: path.to_string(),
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            pax: PaxRecords::new(),
        };
        self.ready = VecDeque::from([Ok(dir("Hives")), Ok(dir("Files"))]);
        self.ready.append(&mut held);
    }
}

/// The entry under `Files/`, a file with its security descriptor.
fn under_files(mut entry: Entry) -> Entry {
    entry.path = format!("Files/{}", entry.path);
    if matches!(entry.kind, Kind::File { .. }) {
        let descriptor = USERS_OWNER_AND_GROUP.as_bytes().to_vec();
        entry.pax.insert(RAWSD.to_string(), descriptor);
    }
    entry
}

impl<I: Iterator<Item = Result<Entry>>> Iterator for Layout<I> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if !self.started {
            self.started = true;
            self.start();
        }
        match self.ready.pop_front() {
            Some(item) => Some(item),
            None => self.entries.next().map(|item| item.map(under_files)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{plan, Defaults, EntrySpec, Source};
    use std::sync::Arc;

    #[test]
    fn entries_move_under_files_after_hives_and_files_get_the_descriptor() {
        let defaults = Defaults {
            file_mode: 0o555,
            dir_mode: 0o555,
            uid: 0,
            gid: 0,
            allow_root: None,
        };
        let specs = [
            EntrySpec::File {
                source: Source::Bytes(Arc::from(&b"MZ"[..])),
                dest: "/ko-app/hello".into(),
                mode: None,
                pax: PaxRecords::new(),
            },
            EntrySpec::File {
                source: Source::Bytes(Arc::from(&b"hi"[..])),
                dest: "/var/run/ko/a/b.txt".into(),
                mode: None,
                pax: PaxRecords::new(),
            },
        ];
        let planned = plan(&specs, &defaults).unwrap();
        let entries: Vec<Entry> = Layout::new(planned.into_iter().map(Ok))
            .collect::<Result<_>>()
            .unwrap();
        let rawsd = || {
            let descriptor = USERS_OWNER_AND_GROUP.as_bytes().to_vec();
            PaxRecords::from([(RAWSD.to_string(), descriptor)])
        };
        let none = PaxRecords::new;
        // (path, is a file, mode, PAX records)
        let want = [
            ("Hives", false, 0o555, none()),
            ("Files", false, 0o555, none()),
            ("Files/ko-app", false, 0o555, none()),
            ("Files/ko-app/hello", true, 0o555, rawsd()),
            ("Files/var", false, 0o555, none()),
            ("Files/var/run", false, 0o555, none()),
            ("Files/var/run/ko", false, 0o555, none()),
            ("Files/var/run/ko/a", false, 0o555, none()),
            ("Files/var/run/ko/a/b.txt", true, 0o555, rawsd()),
        ];
        let got: Vec<_> = entries
            .iter()
            .map(|e| {
                let file = matches!(e.kind, Kind::File { .. });
                (e.path.as_str(), file, e.mode, e.pax.clone())
            })
            .collect();
        assert_eq!(got, want);
    }

    /// What another tar implementation reads: names as ko's Go writer
    /// stores them (no trailing `/`) and the PAX record on the file.
    #[test]
    fn the_tar_reads_back_as_ko_writes_it() {
        let file = Entry {
            path: "ko-app/hello".into(),
            kind: Kind::File {
                source: Source::Bytes(Arc::from(&b"MZ"[..])),
                size: 2,
            },
            mode: 0o555,
            uid: 0,
            gid: 0,
            pax: PaxRecords::new(),
        };
        let dir = Entry {
            path: "ko-app".into(),
            kind: Kind::Dir,
            ..file.clone()
        };
        let mut bytes = Vec::new();
        super::super::write_windows_tar(&[dir, file], 0, &mut bytes).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let got: Vec<(String, Vec<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let pax = e
                    .pax_extensions()
                    .unwrap()
                    .map(|records| {
                        records
                            .map(|r| {
                                let r = r.unwrap();
                                format!("{}={}", r.key().unwrap(), r.value().unwrap())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (String::from_utf8(e.path_bytes().into_owned()).unwrap(), pax)
            })
            .collect();
        let rawsd = format!("{RAWSD}={USERS_OWNER_AND_GROUP}");
        assert_eq!(
            got,
            [
                ("Hives".to_string(), vec![]),
                ("Files".to_string(), vec![]),
                ("Files/ko-app".to_string(), vec![]),
                ("Files/ko-app/hello".to_string(), vec![rawsd]),
            ]
        );
    }
}
