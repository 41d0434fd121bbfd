"""The folders of a report run: the run folder (created once, one-line errors) and the temporary
price-snapshot folder (removed on any exit, SIGTERM and SIGHUP included; a folder left by a
killed run is removed by the next run)."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from analysis.atomic import RemoveOnSignal, remove_orphans  # noqa: F401 - RemoveOnSignal: the run's temporary folder uses it
from analysis.errors import UserError, os_error

#: What a run id may be: letters, digits, '.', '_', '-' (first a letter or digit), at most 100.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: The file the pipeline writes first into every run folder it creates; pruning removes only
#: folders holding it (with the folder's own run id), never a folder someone else made.
RUN_MARKER = ".analysis-run.json"
#: The value of ``written_by`` in :data:`RUN_MARKER` and in the run's ``manifest.json``.
WRITTEN_BY = "python -m analysis report"


def is_run_id(text: str) -> bool:
    """Is ``text`` a run id (the whole string: a trailing newline is not allowed)?"""
    return isinstance(text, str) and RUN_ID.fullmatch(text) is not None and text != "latest"


def _write_marker(run_dir: Path, run_id: str) -> None:
    import json
    import socket
    import time

    (run_dir / RUN_MARKER).write_text(json.dumps({"written_by": WRITTEN_BY, "run_id": run_id, "pid": os.getpid(),
                                                  "host": socket.gethostname(), "created": time.time()}),
                                      encoding="utf-8")


def read_marker(folder: Path) -> dict | None:
    """The run marker of ``folder`` when the pipeline wrote it for this very folder, else None."""
    import json

    try:
        marker = json.loads((folder / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(marker, dict) or marker.get("written_by") != WRITTEN_BY or marker.get("run_id") != folder.name:
        return None
    return marker


def _process_gone(marker: dict) -> bool:
    """Has the process that created a run ended (same machine only; elsewhere: unknown, False)?"""
    import socket

    if marker.get("host") != socket.gethostname() or not isinstance(marker.get("pid"), int):
        return False
    if marker["pid"] == os.getpid():
        return False
    try:
        os.kill(marker["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def make_run_dir(reports: Path, run_id: str, chosen: bool) -> tuple[str, Path]:
    """Create ``reports/<run_id>`` (and ``reports``) with its :data:`RUN_MARKER`; without a chosen
    id a run started in the same second gets ``-2``, ``-3``, ... One-line errors: exit 2 for a
    folder that exists, is a file or is read-only, exit 1 for a full disk."""
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
        except FileExistsError:
            if chosen:
                raise UserError(f"run folder {run_dir} already exists: pass another --run-id") from None
            run_id = f"{base}-{n + 1}"
            continue
        except OSError as exc:
            raise os_error(exc, f"cannot create the run folder {run_dir}") from None
        try:
            _write_marker(run_dir, run_id)
        except OSError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise os_error(exc, f"cannot write into the run folder {run_dir}") from None
        return run_id, run_dir
    raise UserError(f"too many runs named {base}* in {reports}: pass --run-id")


TMP_PREFIX = "report-prices-"


def remove_stale_temp() -> None:
    """Remove ``report-prices-<pid>-*`` folders of runs whose process is gone (killed with -9)."""
    remove_orphans(Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*-*"), TMP_PREFIX)


def prune_runs(reports: Path, keep: int, current: str | None = None) -> list[str]:
    """Remove all but the newest ``keep`` runs of ``reports`` (newest by their start time); never
    the run ``latest`` points to, nor ``current``.

    A run is a folder the pipeline created: its name is a run id and it holds the
    :data:`RUN_MARKER` written for that name. A finished run has a ``manifest.json``; a run killed
    or stopped by a full disk has none and counts once its process is gone (a run still going is
    left alone). Any other file or folder (one with a ``manifest.json`` of its own included) is
    never touched. Returns the removed run ids, oldest first."""
    import json

    latest = reports / "latest"
    protected = {current}
    if latest.is_symlink():
        protected.add(Path(os.readlink(latest)).name)
    runs = []
    for folder in reports.iterdir() if reports.is_dir() else ():
        if folder.is_symlink() or not folder.is_dir() or not is_run_id(folder.name):
            continue
        marker = read_marker(folder)
        if marker is None:
            continue
        manifest = folder / "manifest.json"
        if manifest.is_file():
            try:
                started = str(json.loads(manifest.read_text(encoding="utf-8")).get("started") or "")
            except (OSError, ValueError, AttributeError, RecursionError):
                started = ""
        elif _process_gone(marker):
            started = ""  # abandoned: sorts as the oldest
        else:
            continue  # still running (or on another machine)
        runs.append((started, (folder / RUN_MARKER).stat().st_mtime, folder.name))
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
