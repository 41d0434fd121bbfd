"""Provenance of a report run: where every price series came from (with SHA-256), the code
version (git commit), the software versions, and fingerprints for reusing unchanged work."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from analysis.paths import PROJECT as REPO
from analysis.digest import sha256_file, sha256_text  # noqa: F401 - prov.sha256_* is used across the report layer


#: Distributions whose versions the report lists (and whose change invalidates reused notebooks),
#: with what each computes or makes in a run.
PACKAGE_ROLES = {
    "numpy": "every array computation: returns, fits, CARs, test statistics",
    "scipy": "Student-t, normal and binomial tails; t quantiles of the intervals and the detectable effect",
    "numba": "the compiled engine loops: estimation fits, abnormal returns, CARs, Var(CAR), correlations",
    "pandas": "tables, dates and CSV files",
    "exchange_calendars": "exchange sessions, day 0 and relative days",
    "statsmodels": "the reference OLS the engine is tested against",
    "matplotlib": "figures",
    "pyarrow": "the price snapshot and the price cache (parquet)",
    "yfinance": "price downloads (runs without recorded prices)",
    "papermill": "notebook execution",
    "nbconvert": "HTML copies of the notebooks",
    "ipykernel": "the notebooks' Python kernel",
    "typst": "the PDF",
}
KEY_PACKAGES = tuple(PACKAGE_ROLES)




def display_path(path) -> str:
    """A path as the PDF shows it, never the machine's absolute path: relative to the project
    (``data/events.csv``), or beside it (``../shared/prices``); anywhere else only its own name
    (``prices``: ``/home/<user>/...`` stays on the machine)."""
    import os

    p = Path(path).expanduser()
    p = Path(os.path.abspath(p))  # '..' folded, symlinks kept: the folder as the user named it
    try:
        return p.relative_to(REPO).as_posix()
    except ValueError:
        pass
    try:
        return (Path("..") / p.relative_to(REPO.parent)).as_posix()
    except ValueError:
        return p.name or "/"


def display_text(text: str, *paths) -> str:
    """``text`` with each of ``paths`` (absolute) and the project folder written as :func:`display_path`."""
    out = str(text)
    for p in sorted({str(Path(p)) for p in paths if p}, key=len, reverse=True):
        out = out.replace(p, display_path(p))
    return out.replace(str(REPO) + "/", "")




def versions() -> dict:
    """Python and key package versions (``not installed`` when missing)."""
    out = {"python": platform.python_version(), "implementation": platform.python_implementation(),
           "platform": platform.platform(terse=True)}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(repo: Path = REPO) -> dict:
    """``{"commit": sha or None, "dirty": bool | None, "describe": text}`` of the repository."""
    import os

    def run(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            raise OSError(head.stderr.strip())
        commit = head.stdout.strip()
        status = run("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = os.environ.get("GITHUB_SHA")
        dirty = None
    if commit is None:
        text = "unknown (not a git checkout)"
    else:
        text = commit + (" with uncommitted changes" if dirty else "")
    return {"commit": commit, "dirty": dirty, "describe": text}


#: Modules of the pipeline itself: they never run inside a notebook (the PDF is rebuilt every run).
#: A path ending in '/' stands for the folder's modules.
PIPELINE_ONLY = ("report/pipeline.py", "report/pdf.py", "report/config.py", "report/summary_text.py",
                 "report/provenance.py", "report/context.py", "report/typst_tables.py", "report/sections/",
                 "report/jobs.py", "report/reuse.py", "report/price_inputs.py")


def _pipeline_only(rel: str) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in PIPELINE_ONLY)


def code_fingerprint(repo: Path = REPO) -> str:
    """SHA-256 over what notebook results depend on: the analysis package (without the pipeline's
    own modules) and the catalog files."""
    h = hashlib.sha256()
    files = [p for p in sorted((repo / "analysis").rglob("*.py"))
             if not _pipeline_only(p.relative_to(repo / "analysis").as_posix())]
    files += [repo / "data" / name for name in ("events.csv", "universe.csv", "event_firms.csv", "event_dates.csv",
                                                "confounders.csv")]
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(repo)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def environment_fingerprint() -> str:
    return sha256_text(json.dumps({k: v for k, v in versions().items() if k != "platform"}, sort_keys=True))


def price_provenance(source, frames: dict, errors: dict, symbols) -> list[dict]:
    """One row per symbol: source, path, sha256, first/last date, rows, or the load error."""
    rows = []
    for sym in symbols:
        row = {"symbol": sym}
        try:
            desc = source.describe(sym) if hasattr(source, "describe") else {}
        except Exception as exc:  # noqa: BLE001 - provenance must never sink the run
            desc = {"source": getattr(source, "name", type(source).__name__), "path": None, "sha256": None,
                    "describe_error": str(exc)}
        row.update({"source": desc.get("source"), "path": desc.get("path"), "sha256": desc.get("sha256")})
        frame = frames.get(sym)
        if frame is not None and len(frame):
            row.update({"first": frame.index[0].date().isoformat(), "last": frame.index[-1].date().isoformat(),
                        "rows": int(len(frame))})
        else:
            row.update({"first": None, "last": None, "rows": 0})
        if sym in errors:
            row["error"] = errors[sym]
        rows.append(row)
    return rows
