//! The USTAR header block (POSIX.1-1988 "ustar", pax(1) "ustar
//! Interchange Format"), as rko's tar writer (tar.rs) writes it: no user
//! or group names, device numbers 0, the checksum over the block with its
//! own field read as spaces.
//!
//! Standard library only: build.rs includes this file to write the
//! `builtin:static` layer's tar exactly as a run of rko would.

/// The tar block size.
pub const BLOCK: usize = 512;

/// One USTAR header block. `name` (at most 100 bytes), `prefix` (155)
/// and `link` (100) must fit, and the numbers their fields (callers clamp
/// them and say the rest in PAX records).
#[allow(clippy::too_many_arguments)]
pub fn ustar_block(
    name: &str,
    prefix: &str,
    flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: &str,
) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut b[100..108], u64::from(mode & 0o7777));
    octal(&mut b[108..116], uid);
    octal(&mut b[116..124], gid);
    octal(&mut b[124..136], size);
    octal(&mut b[136..148], mtime);
    b[156] = flag;
    b[157..157 + link.len()].copy_from_slice(link.as_bytes());
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    octal(&mut b[329..337], 0);
    octal(&mut b[337..345], 0);
    b[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is computed with its own field read as eight spaces.
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    octal(&mut b[148..155], u64::from(sum));
    b[155] = b' ';
    b
}

/// `block` with its device number fields left empty (all NUL), as Go's
/// archive/tar leaves them in a PAX extended header's block.
#[allow(dead_code)] // build.rs includes this file without using it.
pub fn without_device_numbers(mut block: [u8; BLOCK]) -> [u8; BLOCK] {
    block[329..345].fill(0);
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|&x| u32::from(x)).sum();
    octal(&mut block[148..155], u64::from(sum));
    block[155] = b' ';
    block
}

/// Zero-padded octal digits filling the field but its last byte, a NUL.
/// (Callers clamp `value` to what the digits hold.)
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let mut rest = value;
    for byte in field[..digits].iter_mut().rev() {
        *byte = b'0' + (rest & 7) as u8;
        rest >>= 3;
    }
    debug_assert_eq!(rest, 0, "{value:o} does not fit in {digits} octal digits");
    field[digits] = 0;
}
