"""Atomic file writes: a temp file in the target's folder, then ``os.replace``.

A killed run never leaves a half-written file; readers see the old file or the new one.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
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
    """Write ``frame`` to ``path`` via a temp file in the same folder, then rename (text cells
    through :func:`analysis.safe_text.csv_frame`)."""
    from analysis.safe_text import csv_frame

    atomic_write(path, lambda fh: csv_frame(frame).to_csv(fh, index=False, float_format="%.10g"), mode="w")


class RemoveOnSignal:
    """Remove a temporary folder when SIGTERM/SIGHUP ends the process, then end as that signal
    would; on a normal exit too (a context manager)."""

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)

    def __init__(self, folder: Path):
        self.folder, self.previous = folder, {}

    def _handle(self, signum, frame):
        shutil.rmtree(self.folder, ignore_errors=True)
        signal.signal(signum, self.previous.get(signum) or signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(self.folder, ignore_errors=True)
        return False


#: The temporary folder a set is written into, inside its own output folder: ``.analysis-set-<pid>-*``.
SET_TMP_PREFIX = ".analysis-set-"


def remove_orphans(folders, prefix: str) -> None:
    """Remove each of ``folders`` named ``<prefix><pid>-<suffix>`` whose process ``pid`` is gone (a
    run or write killed with -9); never this process's, a symlink or a file."""
    import re

    for folder in folders:
        m = re.fullmatch(rf"{re.escape(prefix)}(\d+)-[A-Za-z0-9_]+", folder.name)
        if not m or not folder.is_dir() or folder.is_symlink() or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def _remove_stale_sets(out: Path) -> None:
    """Remove ``out/.analysis-set-<pid>-*`` folders whose process is gone (a write killed with -9)."""
    remove_orphans(out.glob(f"{SET_TMP_PREFIX}*-*"), SET_TMP_PREFIX)


def write_set(frames: dict, out_dir, owned=()) -> list[Path]:
    """Write ``{file name: frame or CSV text}`` into ``out_dir`` as one set.

    Every file is first written in full into a temporary folder inside ``out_dir``
    (``.analysis-set-<pid>-*``, removed on any exit, SIGTERM and SIGHUP included; one left by a
    process killed with -9 is removed by the next write); only when all of them are complete are
    they renamed into ``out_dir``, one ``os.replace`` each. A failure before that (disk full, a
    file-size limit) leaves ``out_dir`` as it was. ``out_dir`` itself is never renamed or moved,
    so any writable folder works (``.``, a mount point), and the study touches only its own files:
    the files of ``owned`` (the names a set may have) that the new set lacks are removed; every
    other file and folder stays where it is. Text cells are written through
    :func:`analysis.safe_text.csv_frame` (no spreadsheet formula).
    """
    from analysis.safe_text import csv_frame

    out = Path(out_dir)
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(out))
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_sets(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{SET_TMP_PREFIX}{os.getpid()}-", dir=out))
    with RemoveOnSignal(tmp):
        for name, frame in frames.items():
            if isinstance(frame, str):  # CSV text already rendered (from files this module wrote)
                (tmp / name).write_text(frame, encoding="utf-8", newline="")
            else:
                csv_frame(frame).to_csv(tmp / name, index=False, float_format="%.10g")
        for name in frames:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp / name, 0o666 & ~_UMASK)
        for name in frames:
            os.replace(tmp / name, out / name)
        for name in set(owned) - set(frames):  # the previous set's files this set does not have
            old = out / name
            if old.is_file() and not old.is_symlink():
                old.unlink()
    return [out / name for name in frames]
