"""Reads a gzip file with zlib, which knows nothing of rko: every member's
header fields as RFC 1952 (section 2.3) lays them out, and the sha256 and
length of the decompressed content. zlib checks each member's CRC32 and
ISIZE; a bad one is an error here.

Usage: gzip_members.py FILE"""

import hashlib
import json
import struct
import sys
import zlib

FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT = 1, 2, 4, 8, 16


def zero_terminated(data, at):
    end = data.index(b"\0", at)
    return data[at:end].decode("latin-1"), end + 1


def header(data):
    """The fixed fields and the optional name and comment of one member."""
    id1, id2, cm, flg, mtime, xfl, os_byte = struct.unpack("<BBBBIBB", data[:10])
    at, name, comment = 10, None, None
    if flg & FEXTRA:
        (xlen,) = struct.unpack("<H", data[at : at + 2])
        at += 2 + xlen
    if flg & FNAME:
        name, at = zero_terminated(data, at)
    if flg & FCOMMENT:
        comment, at = zero_terminated(data, at)
    return {
        "id": f"{id1:02x}{id2:02x}",
        "cm": cm,
        "flg": flg,
        "mtime": mtime,
        "xfl": xfl,
        "os": os_byte,
        "name": name,
        "comment": comment,
    }


def main():
    with open(sys.argv[1], "rb") as f:
        rest = f.read()
    members, content = [], hashlib.sha256()
    size = 0
    while rest:
        members.append(header(rest))
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = member.decompress(rest) + member.flush()
        if not member.eof:
            sys.exit("gzip_members.py: the last member is cut short")
        content.update(out)
        size += len(out)
        rest = member.unused_data
    json.dump(
        {"members": members, "sha256": content.hexdigest(), "size": size},
        sys.stdout,
    )


main()
