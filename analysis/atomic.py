"""Atomic file writes: a temp file in the target's folder, then ``os.replace``.

A killed run never leaves a half-written file; readers see the old file or the new one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path, write, mode: str = "wb") -> Path:
    """Call ``write(fh)`` on a temp file beside ``path`` (opened with ``mode``), then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"newline": ""} if "b" not in mode else {})) as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_csv_atomic(frame, path: Path) -> None:
    """Write ``frame`` to ``path`` via a temp file in the same folder, then rename."""
    atomic_write(path, lambda fh: frame.to_csv(fh, index=False, float_format="%.10g"), mode="w")


def write_set(frames: dict, out_dir, owned=()) -> list[Path]:
    """Write ``{file name: frame or CSV text}`` into ``out_dir`` as one set.

    The files go into a temporary folder beside ``out_dir``; only when all of them are complete
    is that folder renamed to ``out_dir`` (the previous folder is renamed away first and removed
    after). Until then ``out_dir`` keeps the previous set untouched; a failure (disk full, a
    file-size limit) leaves it as it was. Other files in ``out_dir`` (not of ``owned``, the names a set may
    have, nor of ``frames``)
    are carried over into the new folder.
    """
    out = Path(out_dir)
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    old = None
    try:
        for name, frame in frames.items():
            if isinstance(frame, str):  # CSV text already rendered
                (tmp / name).write_text(frame, encoding="utf-8", newline="")
            else:
                frame.to_csv(tmp / name, index=False, float_format="%.10g")
        for name in frames:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        mode = (out.stat().st_mode & 0o7777) if out.is_dir() else (0o777 & ~_UMASK)
        os.chmod(tmp, mode)
        for name in frames:
            os.chmod(tmp / name, 0o666 & ~_UMASK)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        os.rename(tmp, out)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            os.rename(old, out)  # put the previous set back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        for entry in old.iterdir():  # the user's own files in the folder stay
            if entry.name not in set(owned) | set(frames):
                os.replace(entry, out / entry.name)
        shutil.rmtree(old, ignore_errors=True)
    return [out / name for name in frames]
