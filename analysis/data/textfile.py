"""Reading a user's text file safely: UTF-8 only, size-limited, errors naming the row.

The row of a decoding error is the file's line number minus one (the header line is row 0),
as in every other input message; no byte of the file is echoed.
"""
from __future__ import annotations

from pathlib import Path

from analysis.errors import input_error

#: Largest text input read (bytes); real price files are under 1 MB, catalogs a few kB.
MAX_BYTES = 200 * 1024 * 1024
#: Longest field accepted in a catalog or price file (characters).
MAX_FIELD = 10_000


def _size(n: int) -> str:
    """'3 MiB', '1.5 MiB' or '2048 bytes'."""
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def read_bytes(path, what: str = "file", max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``: a device (/dev/zero), a pipe
    or a folder is refused before any read, and no more than ``max_bytes`` + 1 bytes are ever read
    (a file growing while read). One-line ``UserError`` naming the file."""
    import stat

    path = Path(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise input_error(path, None, None, "is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise input_error(path, None, None, f"not a regular file (a device or a pipe); give the {what} as a file")
        if st.st_size > max_bytes:
            raise input_error(path, None, None, f"{what} is {_size(st.st_size)}, more than the "
                                                f"{_size(max_bytes)} accepted")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise input_error(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise input_error(path, None, None, "is a folder, not a file") from None
    except OSError as exc:
        raise input_error(path, None, None, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:
        raise input_error(path, None, None, f"{what} is more than the {_size(max_bytes)} accepted")
    return data


def read_text(path, what: str = "file") -> str:
    """The text of ``path`` (UTF-8, an optional BOM dropped). ``UserError`` naming the file, and the
    row for a byte that is not UTF-8; never a traceback for a missing or unreadable file."""
    path = Path(path)
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start)
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise input_error(path, line, None, f"not UTF-8 text (byte {column} of the line; "
                                            "save the file as UTF-8)") from None
