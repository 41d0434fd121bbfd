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


def read_text(path, what: str = "file") -> str:
    """The text of ``path`` (UTF-8, an optional BOM dropped). ``UserError`` naming the file, and the
    row for a byte that is not UTF-8; never a traceback for a missing or unreadable file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise input_error(path, None, None, f"{what} is {size / 2**20:.0f} MiB, more than the "
                                                f"{MAX_BYTES // 2**20} MiB accepted")
        data = path.read_bytes()
    except FileNotFoundError:
        raise input_error(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise input_error(path, None, None, "is a folder, not a file") from None
    except OSError as exc:
        raise input_error(path, None, None, f"cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start)
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise input_error(path, line, None, f"not UTF-8 text (byte {column} of the line; "
                                            "save the file as UTF-8)") from None
