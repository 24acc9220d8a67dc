"""Reads a tar archive (plain or gzip) with Python's tarfile, which knows
nothing of rko, and prints it as one JSON document: the sha256 of the tar
stream, and for every entry in archive order what its header says (type,
mode, owner, mtime, size, link target, the PAX records that came with it)
and the sha256 of its content. Fields are read from the header block too:
the format magic and the user and group names.

Usage: tar_entries.py ARCHIVE"""

import gzip
import hashlib
import io
import json
import sys
import tarfile


def text(raw):
    """A NUL-terminated header field as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def pax_value(value):
    """tarfile decodes PAX values with surrogateescape; keep them printable."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    compressed = data[:2] == b"\x1f\x8b"
    if compressed:
        data = gzip.decompress(data)
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            # The entry's own header block, after any PAX header.
            block = data[member.offset_data - 512 : member.offset_data]
            content = archive.extractfile(member).read() if member.isreg() else b""
            mtime = member.mtime
            entries.append(
                {
                    "name": member.name,
                    "type": member.type.decode("ascii"),
                    "mode": member.mode,
                    "uid": member.uid,
                    "gid": member.gid,
                    "uname": text(block[265:297]),
                    "gname": text(block[297:329]),
                    "mtime": int(mtime) if mtime == int(mtime) else mtime,
                    "size": member.size,
                    "link": member.linkname,
                    "magic": block[257:265].decode("latin-1"),
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "pax": {k: pax_value(v) for k, v in member.pax_headers.items()},
                }
            )
    json.dump(
        {
            "gzip": compressed,
            "tar_sha256": hashlib.sha256(data).hexdigest(),
            "entries": entries,
        },
        sys.stdout,
    )


main()
