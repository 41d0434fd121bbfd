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
