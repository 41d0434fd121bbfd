"""One notebook execution of the report pipeline: the :class:`Job`, its papermill run and its
typed failure (:class:`NotebookFailure`, with papermill's fields: which cell, which error)."""
from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass, field
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
    stderr: list = field(default_factory=list)  # what the notebook wrote to stderr (run log, not the HTML)

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
            env["TQDM_DISABLE"] = "1"  # progress goes to the run log, never into a notebook's output
            kw["env"] = env
            kw["cwd"] = str(cwd)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as fh:
                kw["stderr"] = fh
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return ReportKernelManager


# --------------------------------------------------------------------------- reused kernels

#: Modules a worker's kernel imports as soon as it starts (while the pipeline still loads the
#: prices), so the notebooks it runs do not wait for them. (The package never imports
#: scipy.stats: the distributions come from scipy.special, loaded by the first p-value.)
WARM_MODULES = ("numpy", "pandas", "matplotlib.pyplot", "analysis.study", "analysis.plots",
                "analysis.report.event", "analysis.report.compare", "analysis.report.artifacts")

_RC_AT_START: dict = {}


def warm_kernel() -> None:
    """Run inside a worker's kernel when it starts: import :data:`WARM_MODULES`, remember
    matplotlib's settings (:func:`reset_kernel` restores them before every notebook) and move
    what is loaded so far out of the garbage collector's way (``gc.freeze``)."""
    import importlib

    import gc

    gc.disable()  # importing allocates many objects that all stay: collecting meanwhile is wasted (~10%)
    try:
        for name in WARM_MODULES:
            importlib.import_module(name)
    finally:
        gc.enable()
    import matplotlib

    _RC_AT_START.clear()
    _RC_AT_START.update(matplotlib.rcParams)
    # The imported modules live as long as the kernel: keep the garbage collector from scanning
    # them again at every collection (IPython's reset runs a full one before each notebook;
    # ~0.1 s over these modules, ~1 ms without them).
    gc.collect()
    gc.freeze()


def quiet_progress() -> None:
    """In a report kernel: no progress bars (tqdm off: ``TQDM_DISABLE``, set for the kernel's
    process too) and no tqdm warnings (e.g. "IProgress not found" without ipywidgets); the run
    log has one line per notebook with its time."""
    import warnings

    os.environ["TQDM_DISABLE"] = "1"
    warnings.filterwarnings("ignore", message="IProgress not found")
    try:
        from tqdm import TqdmWarning
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return
    warnings.filterwarnings("ignore", category=TqdmWarning)


def reset_kernel() -> None:
    """Run inside a worker's kernel before each notebook: a notebook sees the state of a fresh
    kernel (empty namespace, execution count 1, no open figures, matplotlib settings as at
    start); only imported modules stay loaded."""
    import warnings

    import matplotlib
    import matplotlib.pyplot as plt
    from IPython import get_ipython

    plt.close("all")
    if _RC_AT_START:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.update(_RC_AT_START)
    warnings.resetwarnings()
    quiet_progress()
    get_ipython().reset(new_session=True)


def _run_in_kernel(kc, code: str, timeout: float) -> None:
    """Execute ``code`` silently on the kernel client ``kc`` (a worker's own, connected and
    ready); RuntimeError when it fails."""
    from jupyter_core.utils import run_sync

    reply = run_sync(kc.execute_interactive)(code, silent=True, store_history=False, timeout=timeout,
                                             output_hook=lambda msg: None)
    if reply["content"].get("status") != "ok":
        raise RuntimeError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")


_ENGINE = "analysis-reused-kernel"


def _register_engine() -> str:
    """A papermill engine that runs a notebook on a kernel it is given (``km=``) through a client
    it is given (``kc=``, kept open for the next notebook), or else closes the client it opened
    (nbclient leaves a kernel it does not own running, as wanted, but also its client's channels).

    Why a kept client: every new client waits for the kernel to be ready, and that wait ends with
    a 0.2 s pause flushing IOPub (jupyter_client), twice per notebook with a reset; on 18
    notebooks that idle time was about a quarter of the notebooks' wall time."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    if _ENGINE in papermill_engines._engines:
        return _ENGINE

    class ReusedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs.pop("input_path", None)
            kc = kwargs.pop("kc", None)
            client = PapermillNotebookClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                             kernel_name=kernel_name, log_output=log_output,
                                             stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            client.kc = kc  # the worker's client, connected once: no new client (and no ready wait) per notebook
            try:
                return client.execute()
            finally:
                if kc is None and client.kc is not None:
                    client.kc.stop_channels()
                client.kc = None

    papermill_engines.register(_ENGINE, ReusedKernelEngine)
    return _ENGINE


class Worker:
    """One worker of the pipeline: a kernel started once and reused by every notebook the
    worker runs (reset before each, see :func:`reset_kernel`), and one HTML exporter.

    A kernel is started again when a notebook failed (it may be dead, or still busy with a cell
    that timed out) or when a notebook lives in another folder (the kernel runs in the
    notebook's folder). Its stderr goes to ``log_path``."""

    def __init__(self, log_path: Path, cwd: Path, start_timeout: int = 180):
        self.log_path, self.cwd, self.start_timeout = log_path, Path(cwd), start_timeout
        self.km = None
        self.kc = None
        self.exporter = None

    def start(self) -> None:
        """Start the kernel (if none runs), connect this worker's client to it and import
        :data:`WARM_MODULES` in it."""
        from jupyter_core.utils import run_sync

        if self.km is not None:
            return
        km = _kernel_manager_class(self.log_path, self.cwd)(kernel_name="python3")
        run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.km = km
        kc = km.client()
        kc.start_channels()
        self.kc = kc
        run_sync(kc.wait_for_ready)(timeout=self.start_timeout)
        kc.allow_stdin = False
        _run_in_kernel(kc, "import analysis.report.jobs as _j; _j.warm_kernel(); del _j", self.start_timeout)

    def stop(self) -> None:
        from jupyter_core.utils import run_sync

        km, kc, self.km, self.kc = self.km, self.kc, None, None
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001 - already closed
                pass
        if km is None:
            return
        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - already dead
            pass

    def run(self, job: "Job", timeout: int) -> "Job":
        """Run ``job`` on this worker's kernel (see :func:`execute`)."""
        if self.km is not None and job.notebook.parent.resolve() != self.cwd.resolve():
            self.stop()
        self.cwd = job.notebook.parent
        job.kernel_log = self.log_path
        try:
            self.start()
            _run_in_kernel(self.kc, "import analysis.report.jobs as _j; _j.reset_kernel()", self.start_timeout)
        except Exception as exc:  # noqa: BLE001 - no kernel: the job fails, the run goes on
            self.stop()
            job.status = "failed"
            job.error = NotebookFailure(None, None, type(exc).__name__, f"the kernel could not start: {exc}"[:600])
            return job
        execute(job, timeout, km=self.km, kc=self.kc, exporter=self._exporter())
        if job.status != "ok":
            self.stop()  # dead, or busy with a cell that timed out: the next notebook gets a new kernel
        return job

    def _exporter(self):
        if self.exporter is None:
            self.exporter = html_exporter()
        return self.exporter


class Workers:
    """``n`` :class:`Worker` threads pulling jobs from one queue. :meth:`start` starts their
    kernels at once (in the background: the pipeline goes on loading prices meanwhile);
    :meth:`run` executes jobs, in the order given, and returns when all are done; :meth:`close`
    shuts the kernels down."""

    def __init__(self, n: int, log_dir: Path, cwd: Path, timeout: int):
        import queue
        import threading

        self.timeout = timeout
        self.workers = [Worker(Path(log_dir) / f"kernel-{i + 1}.log", cwd) for i in range(max(1, n))]
        self.todo: "queue.Queue" = queue.Queue()
        self.done: "queue.Queue" = queue.Queue()
        self.threads = [threading.Thread(target=self._loop, args=(w,), name=f"notebook-worker-{i + 1}", daemon=True)
                        for i, w in enumerate(self.workers)]
        self.started = False

    def start(self) -> "Workers":
        if not self.started:
            self.started = True
            for t in self.threads:
                t.start()
        return self

    def _loop(self, worker: Worker) -> None:
        try:
            worker.start()
        except Exception:  # noqa: BLE001 - tried again (and reported) with the first job
            worker.stop()
        while True:
            job = self.todo.get()
            if job is None:
                worker.stop()
                return
            try:
                worker.run(job, self.timeout)
            except Exception as exc:  # noqa: BLE001 - never lose a job
                job.status = "failed"
                job.error = NotebookFailure(None, None, type(exc).__name__, " ".join(str(exc).split())[:600])
                worker.stop()
            self.done.put(job)

    def run(self, jobs, on_done=None) -> None:
        """Execute ``jobs`` (longest first is the caller's business); ``on_done(job)`` after each."""
        self.start()
        for job in jobs:
            self.todo.put(job)
        for _ in jobs:
            job = self.done.get()
            if on_done is not None:
                on_done(job)

    def close(self) -> None:
        if self.started:
            for _ in self.threads:
                self.todo.put(None)
            for t in self.threads:
                t.join(timeout=60)
        else:
            for w in self.workers:
                w.stop()


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


#: Outputs a stakeholder never sees in the HTML copy: progress bars (ipywidgets) and anything a
#: notebook wrote to stderr (warnings, text progress bars); they go to the run log instead.
WIDGET_MIMES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
#: Every table of the HTML copy sits in a box that scrolls sideways when the table is wider than the page.
SCROLL_CLASS = "report-table-scroll"
_SCROLL_CSS = (f"<style>.{SCROLL_CLASS}{{overflow-x:auto;max-width:100%}}"
               ".jp-OutputArea-output{overflow-x:auto;max-width:100%}</style>")


def stakeholder_copy(nb) -> list[str]:
    """Remove from the notebook ``nb`` (nbformat, changed in place) what the HTML copy must not
    show: stderr streams and widget outputs (progress bars), and the notebook's widget state;
    returns the removed text, one entry per output, for the run log."""
    removed: list[str] = []
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                removed.append("".join(out.get("text", "")).strip())
                continue
            data = out.get("data", {})
            if any(m in data for m in WIDGET_MIMES):
                removed.append(str(data.get("text/plain", "progress bar")).strip())
                continue
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return [r for r in removed if r]


def scrollable_tables(body: str) -> str:
    """``body`` (HTML) with every ``<table>`` inside a box that scrolls sideways (wide tables
    stay inside the page) and the box's style in the head."""
    body = re.sub(r"<table\b", f'<div class="{SCROLL_CLASS}"><table', body, flags=re.IGNORECASE)
    body = re.sub(r"</table\s*>", "</table></div>", body, flags=re.IGNORECASE)
    return body.replace("</head>", _SCROLL_CSS + "\n</head>", 1)


#: What nbconvert's HTML exporter adds in its last pass: an alt text on every image without one
#: and ``tabindex="0"`` on every cell input (markdown) and output area (keyboard focus), as that pass spells them.
NO_ALT = "No description has been provided for this image"
_IMG_NO_ALT = re.compile(r"<img\b(?![^>]*\balt=)", flags=re.IGNORECASE)
_FOCUSABLE = re.compile(r'(<div class="[^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*")(?![^>]*\btabindex=)')


def accessible(body: str) -> str:
    """``body`` (the exporter's HTML before its BeautifulSoup pass) with what that pass adds:
    ``alt`` on images that have none, ``tabindex="0"`` on cell inputs and output areas."""
    body = _IMG_NO_ALT.sub(f'<img alt="{NO_ALT}"', body)
    return _FOCUSABLE.sub(r'\1 tabindex="0"', body)


def html_exporter():
    """nbconvert's HTML exporter, inputs hidden, without its last pass: that pass parses the
    whole page with BeautifulSoup's pure-Python parser only to add alt texts and tabindex
    (:func:`accessible` adds them with two substitutions); on a notebook of large tables it was
    ~85% of the export (2.1 s of 2.5 s for the comparison notebook, on a loaded machine)."""
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class StakeholderHTMLExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter.from_notebook_node (nbconvert 7) up to its BeautifulSoup pass
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            body, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(body), resources

    # optimistic_validation: the notebook is validated once, after the last preprocessor, not
    # after each of the twelve (~35% of an export)
    return StakeholderHTMLExporter(exclude_input=True, optimistic_validation=True)


def _export_html(executed: Path, html: Path, exporter=None) -> list[str]:
    """Write the stakeholders' HTML copy of ``executed`` (inputs hidden, no stderr or progress
    bars, wide tables scroll); returns what was left out (see :func:`stakeholder_copy`)."""
    import nbformat

    if exporter is None:
        exporter = html_exporter()
    nb = nbformat.read(str(executed), as_version=4)
    removed = stakeholder_copy(nb)
    body, _ = exporter.from_notebook_node(nb)
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(scrollable_tables(body), encoding="utf-8")
    os.replace(tmp, html)
    return removed


def literal_path(path) -> str:
    """``path`` for papermill, which formats its paths as templates (``str.format`` with the
    parameters): braces doubled, so a folder named ``{x}`` is a folder, not a placeholder."""
    return str(path).replace("{", "{{").replace("}", "}}")


def execute(job: Job, timeout: int, km=None, kc=None, exporter=None) -> Job:
    """Run one notebook with papermill, on the kernel of ``km`` when given (a :class:`Worker`'s,
    left running, through its client ``kc`` when given), else on a kernel of its own; a failure
    is recorded on the job, never raised."""
    import papermill as pm

    t0 = time.monotonic()
    job.executed.parent.mkdir(parents=True, exist_ok=True)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    kernel = ({"km": km, "kc": kc, "engine_name": _register_engine()} if km is not None else
              {"kernel_manager_class": _kernel_manager_class(job.kernel_log, job.notebook.parent)})
    try:
        pm.execute_notebook(
            literal_path(job.notebook), literal_path(job.executed), parameters=job.parameters,
            progress_bar=False, request_save_on_cell_execute=False, start_timeout=180,
            execution_timeout=timeout, **kernel,
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
            job.stderr = _export_html(job.executed, job.html, exporter)
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

    return pm.inspect_notebook(literal_path(path))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))[:80]


def check_top_parameters(cfg: Config, declared_by: dict) -> None:
    """UserError for a top-level ``parameters`` entry that no notebook of the run declares (a typo
    such as ``placebo_draw`` would otherwise be dropped silently)."""
    known = set().union(*map(set, declared_by.values())) if declared_by else set()
    unknown = sorted(set(cfg.parameters) - known)
    if unknown:
        raise UserError(f"{cfg.path}: 'parameters.{unknown[0]}': no notebook of the run declares this parameter "
                        f"(theirs: {', '.join(sorted(known))})")


def build_jobs(cfg: Config, run_dir: Path, event_ids: list[str], snapshot: Path | None) -> list[Job]:
    """One job per (per-event notebook, event) and one per other notebook, with their parameters
    and files in ``run_dir``; UserError when the configuration passes an undeclared parameter."""
    jobs = []
    declared_by = {spec.name: _declared_parameters(spec.path) for spec in cfg.notebooks}
    check_top_parameters(cfg, declared_by)
    for spec in cfg.notebooks:
        declared = declared_by[spec.name]
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
            "run_folder": str(run_dir),  # the notebooks view the study fitted once in run_dir/study
            "progress": False,
            "primary_window": cfg.primary["window"],
            "primary_symbols": [cfg.primary["symbol"]],
            # the comparison across events uses the primary window and test, as the PDF says
            "window": cfg.primary["window"],
            "test": cfg.primary["test"],
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
