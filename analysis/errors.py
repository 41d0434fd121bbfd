"""User-facing errors: one line, naming the file, row and field where there is one."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a file, an option, a symbol).

    The CLI prints ``str(err)`` on one line and exits with status 2, never a traceback.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def input_error(file, row, field, problem: str) -> UserError:
    """Build ``UserError('<file>: row <row>, field '<field>': <problem>')``.

    ``row`` is the 1-based data row (the header is row 0); ``None`` leaves it out.
    """
    where = f"{file}"
    if row is not None:
        where += f": row {row}"
    if field is not None:
        where += f", field '{field}'" if row is not None else f": field '{field}'"
    return UserError(f"{where}: {problem}")


class SystemFailure(Exception):
    """A failure of the machine rather than of the input (disk full, file too large, I/O error).

    The CLI prints ``str(err)`` on one line and exits with status 1, never a traceback.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


#: errno values that mean the machine failed, not the user's choice of path.
_SYSTEM_ERRNOS = {"ENOSPC", "EDQUOT", "EFBIG", "EIO", "ENOMEM", "EMFILE", "ENFILE"}


def os_error(exc: OSError, what: str) -> Exception:
    """A one-line error for ``exc`` while doing ``what``: :class:`SystemFailure` (exit 1) for a full
    disk, a file-size limit or an I/O error, else :class:`UserError` (exit 2: a read-only folder,
    a file where a folder is expected, no permission)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    message = f"{what}: {exc.strerror or type(exc).__name__}{where}"
    return SystemFailure(message) if name in _SYSTEM_ERRNOS else UserError(message)
