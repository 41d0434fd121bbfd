"""The folders of a report run: the run folder (created once, one-line errors) and the temporary
price-snapshot folder (removed on any exit, SIGTERM and SIGHUP included; a folder left by a
killed run is removed by the next run)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from analysis.errors import UserError, os_error


def make_run_dir(reports: Path, run_id: str, chosen: bool) -> tuple[str, Path]:
    """Create ``reports/<run_id>`` (and ``reports``); without a chosen id a run started in the same
    second gets ``-2``, ``-3``, ... One-line errors: exit 2 for a folder that exists, is a file or is
    read-only, exit 1 for a full disk."""
    if reports.exists() and not reports.is_dir():
        raise UserError(f"--reports-dir {reports}: is a file, not a folder")
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, f"cannot create the reports folder {reports}") from None
    base = run_id
    for n in range(1, 100):
        run_dir = reports / run_id
        try:
            run_dir.mkdir()
            return run_id, run_dir
        except FileExistsError:
            if chosen:
                raise UserError(f"run folder {run_dir} already exists: pass another --run-id") from None
            run_id = f"{base}-{n + 1}"
        except OSError as exc:
            raise os_error(exc, f"cannot create the run folder {run_dir}") from None
    raise UserError(f"too many runs named {base}* in {reports}: pass --run-id")


TMP_PREFIX = "report-prices-"


def remove_stale_temp() -> None:
    """Remove ``report-prices-<pid>-*`` folders of runs whose process is gone (killed with -9)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"):
        m = re.match(rf"{TMP_PREFIX}(\d+)-", folder.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


class RemoveOnSignal:
    """Remove a temporary folder when SIGTERM/SIGHUP ends the run, then end as that signal would."""

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


def prune_runs(reports: Path, keep: int, current: str | None = None) -> list[str]:
    """Remove all but the newest ``keep`` run folders of ``reports`` (newest by the start time in
    their ``manifest.json``); never the run ``latest`` points to, nor ``current``. Only folders
    with a ``manifest.json`` count as runs (a run still going has none yet; other files and
    folders are left alone). Returns the removed run ids, oldest first."""
    import json

    latest = reports / "latest"
    protected = {current}
    if latest.is_symlink():
        protected.add(Path(os.readlink(latest)).name)
    runs = []
    for folder in reports.iterdir() if reports.is_dir() else ():
        manifest = folder / "manifest.json"
        if folder.is_symlink() or not folder.is_dir() or folder.name.startswith(".") or not manifest.is_file():
            continue
        try:
            started = str(json.loads(manifest.read_text(encoding="utf-8")).get("started") or "")
        except (OSError, ValueError):
            started = ""
        runs.append((started, manifest.stat().st_mtime, folder.name))
    runs.sort(reverse=True)  # newest first
    removed = []
    for _, _, name in runs[keep:]:
        if name in protected:
            continue
        shutil.rmtree(reports / name, ignore_errors=True)
        removed.append(name)
    return removed[::-1]


def link_file(src, dst) -> None:
    """``dst`` as a hard link to ``src`` (same file system), else a copy: a reused result is
    never copied when it can be linked (the files of a run are never modified in place)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(src, dst) -> None:
    """:func:`shutil.copytree` with :func:`link_file`: a folder of hard links."""
    shutil.copytree(src, dst, copy_function=link_file, dirs_exist_ok=True)
