//! Linux file capabilities for the binary, as ko writes them (ko's
//! pkg/caps and `builds[].linux_capabilities`): names (`net_bind_service`,
//! `CAP_BPF`, a number below 64, `all`) or `setcap` clauses
//! (`cap_bpf,cap_perfmon=ep`), encoded as the `security.capability`
//! extended attribute (revision 2), which the binary's tar entry carries as
//! the PAX record `SCHILY.xattr.security.capability`.

/// The PAX record key of the file capability attribute.
pub const PAX_KEY: &str = "SCHILY.xattr.security.capability";

/// Capability names in kernel order (ko's `nameToIndex`).
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Every capability rko knows by name (ko's `allKnownCaps`).
const ALL: u64 = (1 << NAMES.len()) - 1;

/// File capabilities: what a program run from the file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCaps {
    permitted: u64,
    inheritable: u64,
    effective: bool,
}

/// One capability as a mask (ko's `caps.Parse`): a number below 64, a
/// name with or without `CAP_` in any case, or `all`.
fn parse_one(s: &str) -> Result<u64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(index @ 0..=63) = s.parse::<u32>() {
            return Ok(1 << index);
        }
    }
    let name = s.to_ascii_uppercase();
    if name == "ALL" {
        return Ok(ALL);
    }
    let name = name.strip_prefix("CAP_").unwrap_or(&name);
    NAMES
        .iter()
        .position(|n| *n == name)
        .map(|index| 1 << index)
        .ok_or_else(|| format!("unknown capability: {s:?}"))
}

impl FileCaps {
    /// ko's `caps.NewFileCaps`: each term is a name (made permitted) or a
    /// `cap_from_text(3)` clause; `None` when nothing ends up permitted or
    /// inheritable.
    pub fn new(terms: &[String]) -> Result<Option<FileCaps>, String> {
        let (mut permitted, mut inheritable, mut effective) = (0u64, 0u64, 0u64);
        for term in terms {
            let Some(at) = term.find(['+', '-', '=']) else {
                permitted |= parse_one(term)?;
                continue;
            };
            let (names, actions) = term.split_at(at);
            let names = if names.is_empty() && actions.starts_with('=') {
                "all"
            } else {
                names
            };
            let mut mask = 0;
            for name in names.split(',') {
                mask |= parse_one(name).map_err(|e| format!("{term:?}: {e}"))?;
            }
            let mut keep = u64::MAX;
            for action in actions.chars() {
                match action {
                    '+' => keep = u64::MAX,
                    '-' => keep = !mask,
                    '=' => {
                        keep = u64::MAX;
                        permitted &= !mask;
                        inheritable &= !mask;
                        effective &= !mask;
                    }
                    'p' => permitted = (permitted | mask) & keep,
                    'i' => inheritable = (inheritable | mask) & keep,
                    'e' => effective = (effective | mask) & keep,
                    other => return Err(format!("{term:?}: unknown flag {other:?}")),
                }
            }
        }
        Ok((permitted != 0 || inheritable != 0).then_some(FileCaps {
            permitted,
            inheritable,
            effective: effective != 0,
        }))
    }

    /// The `security.capability` value (ko's `XattrBytes`): the Linux
    /// kernel's `vfs_ns_cap_data` at revision 2, little-endian: magic and
    /// flags, then permitted and inheritable, low 32 bits then high.
    pub fn xattr(&self) -> Vec<u8> {
        const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
        let magic = VFS_CAP_REVISION_2 | u32::from(self.effective);
        [
            magic,
            self.permitted as u32,
            self.inheritable as u32,
            (self.permitted >> 32) as u32,
            (self.inheritable >> 32) as u32,
        ]
        .iter()
        .flat_map(|word| word.to_le_bytes())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn caps(permitted: u64, inheritable: u64, effective: bool) -> Option<FileCaps> {
        Some(FileCaps {
            permitted,
            inheritable,
            effective,
        })
    }

    /// ko's pkg/caps/new_file_caps_test.go `TestNewFileCaps`.
    #[test]
    fn terms_parse_as_kos_new_file_caps() {
        type Want = Result<Option<FileCaps>, ()>;
        let cases: [(&[&str], Want); 14] = [
            (&[], Ok(None)),
            (
                &["chown", "dac_override", "dac_read_search"],
                Ok(caps(7, 0, false)),
            ),
            (
                &["chown,dac_override,dac_read_search=p"],
                Ok(caps(7, 0, false)),
            ),
            (
                &["chown,dac_override,dac_read_search=i"],
                Ok(caps(0, 7, false)),
            ),
            (&["chown,dac_override,dac_read_search=e"], Ok(None)),
            (
                &["chown,dac_override,dac_read_search=pe"],
                Ok(caps(7, 0, true)),
            ),
            (&["=pe"], Ok(caps(ALL, 0, true))),
            (&["chown=ie", "chown=p"], Ok(caps(1, 0, false))),
            (&["chown=ie", "chown="], Ok(None)),
            (&["chown=ie", "chown+p"], Ok(caps(1, 1, true))),
            (&["chown=pie", "dac_override,chown-p"], Ok(caps(0, 1, true))),
            (&["chown,=pie"], Err(())),
            (&["-pie"], Err(())),
            (&["+pie"], Err(())),
        ];
        for (terms, want) in cases {
            let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
            let got = FileCaps::new(&terms).map_err(|_| ());
            assert_eq!(got, want, "{terms:?}");
        }
        assert_eq!(FileCaps::new(&["=".to_string()]), Ok(None));
    }

    /// ko's pkg/caps/caps_test.go `TestParse`.
    #[test]
    fn names_parse_as_kos_parse() {
        let cases = [
            ("chown", Ok(1)),
            ("cap_chown", Ok(1)),
            ("cAp_cHoWn", Ok(1)),
            ("unknown", Err(())),
            ("63", Ok(1 << 63)),
            ("64", Err(())),
            ("all", Ok(ALL)),
            ("net_bind_service", Ok(1 << 10)),
            ("checkpoint_restore", Ok(1 << 40)),
        ];
        for (name, want) in cases {
            assert_eq!(parse_one(name).map_err(|_| ()), want, "{name}");
        }
    }

    /// Rows of ko's pkg/caps/caps_dd_test.go (generated by its gen.sh from
    /// what `setcap` writes): permitted, inheritable, effective, base64.
    #[test]
    fn xattr_bytes_are_kos_and_setcaps() {
        let cases = [
            ("chown", "", false, "AAAAAgEAAAAAAAAAAAAAAAAAAAA="),
            ("chown", "", true, "AQAAAgEAAAAAAAAAAAAAAAAAAAA="),
            ("", "chown", false, "AAAAAgAAAAABAAAAAAAAAAAAAAA="),
            (
                "net_bind_service",
                "net_bind_service",
                true,
                "AQAAAgAEAAAABAAAAAAAAAAAAAA=",
            ),
            ("setfcap", "setfcap", true, "AQAAAgAAAIAAAACAAAAAAAAAAAA="),
            (
                "mac_override",
                "mac_override",
                true,
                "AQAAAgAAAAAAAAAAAQAAAAEAAAA=",
            ),
            (
                "audit_read",
                "audit_read",
                true,
                "AQAAAgAAAAAAAAAAIAAAACAAAAA=",
            ),
        ];
        for (permitted, inheritable, effective, want) in cases {
            let mask = |s: &str| {
                if s.is_empty() {
                    0
                } else {
                    parse_one(s).unwrap()
                }
            };
            let caps = FileCaps {
                permitted: mask(permitted),
                inheritable: mask(inheritable),
                effective,
            };
            let got = base64::engine::general_purpose::STANDARD.encode(caps.xattr());
            assert_eq!(got, want, "{permitted},{inheritable},{effective}");
        }
    }
}
