"""One notebook execution of the report pipeline: the :class:`Job`, its papermill run and its
typed failure (:class:`NotebookFailure`, with papermill's fields: which cell, which error)."""
from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from analysis.errors import UserError
from analysis.paths import PROJECT as REPO
from analysis.report.config import Config


@dataclass
class NotebookFailure:
    """Where and why a notebook failed (papermill's ``PapermillExecutionError`` fields)."""

    cell_index: int | None = None
    exec_count: int | None = None
    ename: str | None = None
    evalue: str | None = None
    source: str = ""  # the failing cell's first line

    def where(self) -> str:
        """'cell 4 (In [3], starting 'res = study.fit()')'."""
        cell = f"cell {self.cell_index}"
        details = [f"In [{self.exec_count}]"] if self.exec_count else []
        if self.source:
            details.append(f"starting '{self.source}'")
        return cell + (f" ({', '.join(details)})" if details else "")

    def __str__(self) -> str:
        at = f" in {self.where()}" if self.cell_index is not None else ""
        return f"failed{at}: {self.ename}: {self.evalue}"

    @classmethod
    def from_record(cls, record: dict | None) -> "NotebookFailure | None":
        return cls(**record) if record else None


@dataclass
class Job:
    """One notebook execution."""

    name: str  # notebook name in the configuration
    slug: str  # file stem: event_study-<event_id> or compare_events
    notebook: Path
    event_id: str | None
    parameters: dict
    output_dir: Path
    executed: Path
    html: Path
    kernel_log: Path
    fingerprint: str = ""
    status: str = "pending"  # ok | reused | failed
    seconds: float = 0.0
    reused_from: str | None = None
    error: NotebookFailure | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.event_id}" if self.event_id else self.name

    def record(self, run_dir: Path) -> dict:
        d = asdict(self)
        for k in ("notebook", "output_dir", "executed", "html", "kernel_log"):
            p = Path(d[k])
            try:
                d[k] = str(p.relative_to(run_dir))
            except ValueError:
                try:
                    d[k] = str(p.relative_to(REPO))
                except ValueError:
                    d[k] = str(p)
        return d



def _kernel_manager_class(log_path: Path, cwd: Path):
    """A kernel manager whose kernel starts in ``cwd``, writes its stderr to ``log_path`` (not
    the terminal) and draws figures inline whatever MPLBACKEND the pipeline runs with (so the
    HTML copies have them). The working directory is given to the kernel process itself:
    papermill's ``cwd=`` changes the directory of the whole process, which is not safe with
    notebooks running in parallel threads."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            env = dict(kw.get("env") or os.environ)
            env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
            env.setdefault("PYTHONHASHSEED", "0")
            kw["env"] = env
            kw["cwd"] = str(cwd)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as fh:
                kw["stderr"] = fh
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return ReportKernelManager


def _failed_cell(executed: Path) -> dict:
    """Where an executed notebook stopped: index, execution count, first source line, error."""
    import nbformat

    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:  # noqa: BLE001 - best effort only
        return {}
    for i, cell in enumerate(nb.cells):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors or status in ("failed", "running"):
            out = {"cell_index": i, "exec_count": cell.get("execution_count"),
                   "source": (cell.get("source") or "").strip().splitlines()[0][:120] if cell.get("source") else ""}
            if errors:
                out.update({"ename": errors[0].get("ename"), "evalue": errors[0].get("evalue")})
            return out
    return {}


def _export_html(executed: Path, html: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True)
    body, _ = exporter.from_filename(str(executed))
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html)


def execute(job: Job, timeout: int) -> Job:
    """Run one notebook with papermill; a failure is recorded on the job, never raised."""
    import papermill as pm

    t0 = time.monotonic()
    job.executed.parent.mkdir(parents=True, exist_ok=True)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(job.notebook), str(job.executed), parameters=job.parameters,
            progress_bar=False, request_save_on_cell_execute=False, start_timeout=180,
            execution_timeout=timeout, kernel_manager_class=_kernel_manager_class(job.kernel_log, job.notebook.parent),
        )
        job.status = "ok"
    except pm.PapermillExecutionError as exc:
        job.status = "failed"
        where = _failed_cell(job.executed)
        job.error = NotebookFailure(exc.cell_index, exc.exec_count, exc.ename,
                                    " ".join(str(exc.evalue).split())[:600], where.get("source", ""))
    except Exception as exc:  # noqa: BLE001 - kernel died, timeout, bad notebook: report, never crash the run
        job.status = "failed"
        where = _failed_cell(job.executed) if job.executed.is_file() else {}
        job.error = NotebookFailure(where.get("cell_index"), where.get("exec_count"), type(exc).__name__,
                                    " ".join(str(exc).split())[:600], where.get("source", ""))
    if job.executed.is_file():
        try:
            _export_html(job.executed, job.html)
        except Exception as exc:  # noqa: BLE001
            if job.status == "ok":
                job.status = "failed"
                job.error = NotebookFailure(None, None, type(exc).__name__, f"HTML export failed: {exc}")
    job.seconds = time.monotonic() - t0
    return job


def describe_error(job: Job) -> str:
    """'notebook notebooks/event_study.ipynb (event_id=x) failed in cell 4 (In [3]: ...): Name: value'."""
    e = job.error or NotebookFailure()
    try:
        nb = job.notebook.relative_to(REPO)
    except ValueError:
        nb = job.notebook
    who = f"notebook {nb}" + (f" (event_id={job.event_id})" if job.event_id else "")
    if e.cell_index is not None:
        where = f" failed in {e.where()} of the executed copy {job.executed}"
    else:
        where = f" failed (executed copy: {job.executed})"
    return f"{who}{where}: {e.ename}: {e.evalue}"


# --------------------------------------------------------------------------- planning


def _declared_parameters(path: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(path))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))[:80]


def build_jobs(cfg: Config, run_dir: Path, event_ids: list[str], snapshot: Path | None) -> list[Job]:
    """One job per (per-event notebook, event) and one per other notebook, with their parameters
    and files in ``run_dir``; UserError when the configuration passes an undeclared parameter."""
    jobs = []
    for spec in cfg.notebooks:
        declared = _declared_parameters(spec.path)
        unknown = sorted(set(spec.parameters) - set(declared))
        if unknown:
            raise UserError(f"{cfg.path}: notebook '{spec.name}' ({spec.path}) has no parameter '{unknown[0]}' "
                            f"(its parameters: {', '.join(declared)})")
        if spec.per_event and "event_id" not in declared:
            raise UserError(f"{cfg.path}: notebook '{spec.name}' is per_event but declares no event_id parameter")
        base = {k: v for k, v in cfg.parameters.items() if k in declared}
        base.update(spec.parameters)
        auto = {
            "prices": str(cfg.prices) if cfg.prices else None,
            "factors": str(cfg.factors) if cfg.factors else None,
            "price_snapshot": str(snapshot) if snapshot else None,
            "progress": False,
            "headline_window": cfg.headline["window"],
            "headline_symbols": [cfg.headline["symbol"]],
        }
        if not spec.per_event and cfg.events is not None:
            auto["event_ids"] = list(event_ids)
        for k, v in auto.items():
            if k in declared and k not in spec.parameters:
                base[k] = v
        runs = [(e, f"{spec.name}-{_safe(e)}") for e in event_ids] if spec.per_event else [(None, spec.name)]
        for event_id, slug in runs:
            params = dict(base)
            if event_id is not None:
                params["event_id"] = event_id
            out = run_dir / ("events" if event_id is not None else "") / (_safe(event_id) if event_id else slug)
            params["output_dir"] = str(out)
            jobs.append(Job(name=spec.name, slug=slug, notebook=spec.path, event_id=event_id, parameters=params,
                            output_dir=out, executed=run_dir / "notebooks" / f"{slug}.ipynb",
                            html=run_dir / "notebooks" / f"{slug}.html",
                            kernel_log=run_dir / "logs" / f"{slug}.kernel.log"))
    return jobs
