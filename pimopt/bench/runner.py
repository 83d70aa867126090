"""The benchmark runner: every instance x method x seed, verified, one JSON per run.

A *run* is a :class:`RunSpec` (instance recipe, resolved architecture, method,
seed, limits, solve options). :func:`run_one` solves it and returns a record;
:func:`run_specs` runs many on a local process pool or a Dask distributed
cluster and writes each record atomically to ``OUT/runs/RUN_ID.json`` as it
arrives, so an interrupted benchmark loses only the runs that were still
going. A second call skips every run whose record exists (runs that raised an
unexpected error are retried; runs refused for a documented limit are not).

The run id contains a hash of everything that defines the run (network
content, architecture parameters, method, seed, time limit, options), so
changing any of them makes a new run instead of silently reusing an old one.

Suites are TOML files (``instances/suites/NAME.toml``)::

    name = "tiny"
    description = "..."
    objective = "programming"        # default objective of every instance
    [options]                        # solve options for every instance
    decomposition = "layer"
    [[instances]]
    network = "../tiny/tiny-fc2.json"   # relative to the suite file
    arch = "../tiny/arch.toml"          # a preset name or a TOML file
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pimopt.architecture import Architecture, load_architecture
from pimopt.errors import InputError, Refused
from pimopt.io.files import package_path, read_json, read_toml, write_atomic
from pimopt.io.schemas import schema_path, validate
from pimopt.network import Network
from pimopt.options import DEFAULTS, FIELDS, check_option
from pimopt.provenance import machine, package_commit, versions
from pimopt.windows import batched

RUN_FORMAT = "pimopt-run"
RUN_FORMAT_VERSION = 2  # 2: stages and objective_unit in every solved record
# solve options a suite, sweep or run may set (the schema's, less those a RunSpec names)
SOLVE_OPTIONS = tuple(n for n in FIELDS if n not in ("objective", "time_limit", "seed"))
MAX_JOBS = 1024  # local worker processes at most
FINISHED = ("optimal", "feasible", "infeasible", "timeout", "refused", "not run")  # never redone
SUITE_KEYS = {"name", "description", "objective", "options", "instances"}
ENTRY_KEYS = {"network", "arch", "name", "objective", "options"}


# ---------------------------------------------------------------------- networks
def network_from_recipe(recipe: dict[str, Any]) -> Network:
    """Build the network a run names: ``{"path": ...}`` or ``{"generate": kind, ...}``.

    Generated networks are rebuilt from their parameters (deterministic for a
    seed), so a run sent to another machine needs no file. ``input_scale``
    multiplies every layer's ``n_inputs`` (a larger input image or batch).
    """
    return _network_cached(json.dumps(recipe, sort_keys=True))


@lru_cache(maxsize=8)
def _network_cached(recipe_json: str) -> Network:
    from pimopt.models import generate

    recipe = json.loads(recipe_json)
    scale = recipe.get("input_scale", 1)
    if "path" in recipe:
        net = Network.load(recipe["path"])
    elif recipe.get("generate") == "synthetic":
        net = generate.synthetic(generate.parse_layer_shapes(recipe["layers"]),
                                 dist=recipe.get("dist", "normal"),
                                 sparsity=recipe.get("sparsity", 0.0),
                                 bits=recipe.get("bits", 8),
                                 quant=recipe.get("quant", "per-tensor"),
                                 seed=recipe.get("seed", 0), name=recipe.get("name", "synthetic"))
    elif recipe.get("generate") == "real":
        net = generate.real_shaped(recipe["model"], recipe.get("dataset", "cifar"),
                                   batch=recipe.get("batch", 1), seed=recipe.get("seed", 0),
                                   bits=recipe.get("bits", 8),
                                   quant=recipe.get("quant", "per-tensor"),
                                   dist=recipe.get("dist", "laplace"),
                                   width=recipe.get("width", 1.0),
                                   windows=bool(recipe.get("windows", False)))
    else:
        raise InputError(f"network recipe {recipe} is invalid: it needs 'path' or "
                         "'generate' = 'synthetic' | 'real'")
    if scale != 1:
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise InputError(f"input_scale = {scale!r} is invalid: an integer >= 1")
        n_in = {la.name: la.n_inputs for la in net.layers}
        # scaled inputs are a batch of copies: image b's inputs need image b's outputs
        net = dataclasses.replace(net, layers=tuple(
            dataclasses.replace(la, n_inputs=la.n_inputs * scale, windows={
                p: batched(need, n_in[p], scale) for p, need in la.windows.items()})
            for la in net.layers), source=f"{net.source}; n_inputs x {scale}")
    return net


def network_sha256(path: Path) -> str:
    """The content hash recorded in a network JSON file (read without the weights)."""
    meta = read_json(path, "network file")
    sha = meta.get("sha256") if isinstance(meta, dict) else None
    if not isinstance(sha, str):
        sha = Network.load(path).content_hash()  # older files: hash the content
    return sha


# ---------------------------------------------------------------------- runs
@dataclass
class RunSpec:
    """Everything that defines one run.

    Attributes
    ----------
    suite, instance
        Labels: suite name and instance name (used in reports and the run id).
    network
        Recipe for :func:`network_from_recipe` (a path with its SHA-256, or a generator).
    arch
        Every architecture parameter (resolved, so the run does not depend on preset files).
    method, seed, time_limit, objective
        As for :func:`pimopt.pipeline.solve`.
    options
        Further :func:`pimopt.pipeline.solve` keywords (see ``SOLVE_OPTIONS``).
    params
        Sweep parameters of this grid point (report axes); empty for a suite.
    suite_file
        Where the suite is defined (the best-known file lives beside it).
    """

    suite: str
    instance: str
    network: dict[str, Any]
    arch: dict[str, Any]
    method: str
    seed: int = 0
    time_limit: float = DEFAULTS.time_limit
    objective: str = DEFAULTS.objective
    options: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    suite_file: str = ""

    def __post_init__(self) -> None:
        from pimopt.methods.registry import METHODS
        from pimopt.objectives import OBJECTIVES

        if self.method not in METHODS:
            raise InputError(f"method {self.method!r} is unknown: one of {', '.join(METHODS)}")
        if self.objective not in OBJECTIVES:
            raise InputError(f"objective {self.objective!r} is unknown: one of "
                             f"{', '.join(OBJECTIVES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed = {self.seed!r} is invalid: an integer")
        if not self.time_limit > 0:
            raise InputError(f"time_limit = {self.time_limit!r} is invalid: positive seconds")
        check_options(self.options, f"run {self.instance}")

    def identity(self) -> dict[str, Any]:
        """What the run computes (no file locations): the input of the run id hash."""
        net = {k: v for k, v in self.network.items() if k != "path"}
        return {"network": net, "arch": self.arch, "method": self.method, "seed": self.seed,
                "time_limit": self.time_limit, "objective": self.objective,
                "options": self.options}

    @property
    def run_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode())
        safe = "".join(c if c.isalnum() or c in "-." else "-" for c in self.instance)
        return f"{safe}__{self.method}__s{self.seed}__{digest.hexdigest()[:10]}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(**data)


def check_options(options: dict[str, Any], where: str) -> None:
    """Reject unknown solve options and wrong types, naming them."""
    for key, value in options.items():
        if key not in SOLVE_OPTIONS:
            raise InputError(f"{where}: option {key!r} is unknown; allowed: "
                             f"{', '.join(SOLVE_OPTIONS)}")
        check_option(key, value, where)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_NO_RESULT = {"objective": None, "bound": None, "gap": None}


def _record_head(spec: RunSpec) -> dict[str, Any]:
    """The fields that identify a run record (every record starts with them)."""
    return {"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "run_id": spec.run_id,
            "spec": spec.to_dict(), "method": spec.method, "seed": spec.seed,
            "objective_name": spec.objective}


def run_one(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """Solve one run and return its record (never raises: errors are recorded).

    Runs in a worker process (local pool or Dask worker); the caller writes the record.
    """
    from pimopt.instance import Instance
    from pimopt.pipeline import solve

    spec = RunSpec.from_dict(spec_dict)
    record = _record_head(spec)
    record.update(started=_now(), host=socket.gethostname(), machine=machine(),
                  versions=versions(), commit=package_commit(), error=None)
    t0 = time.perf_counter()
    try:
        inst = Instance(Architecture.from_dict(dict(spec.arch), source=f"run {spec.run_id}"),
                        network_from_recipe(spec.network))
        res = solve(inst, spec.method, objective=spec.objective, time_limit=spec.time_limit,
                    seed=spec.seed, **spec.options)
        data = res.to_json(inst)
        data.pop("versions", None)
        record.update(data)
    except Refused as exc:  # the method refused up front (a documented size limit): final
        record.update(status="refused", error=str(exc), **_NO_RESULT)
    except InputError as exc:  # bad input (the run's own files or options): final
        record.update(status="not run", error=str(exc), **_NO_RESULT)
    except Exception as exc:  # a bug: recorded with its traceback and retried next time
        record.update(status="error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(), **_NO_RESULT)
    record["wall_s"] = time.perf_counter() - t0
    record["finished"] = _now()
    return record


def run_one_marked(spec_dict: dict[str, Any], run_id: str, marker_dir: str) -> dict[str, Any]:
    """:func:`run_one` in a local pool worker, which leaves ``.RUN_ID.pid`` (its process
    id) in ``marker_dir`` while it runs: if the worker dies, the parent knows which run it
    was running (that run alone is recorded as failed; the others run again)."""
    marker = Path(marker_dir) / f".{run_id}.pid"
    marker.write_text(str(os.getpid()), encoding="ascii")
    try:
        return run_one(spec_dict)
    finally:
        marker.unlink(missing_ok=True)


def _failed_record(spec: RunSpec, error: str) -> dict[str, Any]:
    """The record of a run whose worker died: schema-valid, status ``error`` (run again
    on the next resume)."""
    now = _now()
    return dict(_record_head(spec), status="error", error=error, **_NO_RESULT, wall_s=0.0,
                started=now, finished=now)


RECORD_SCHEMA = schema_path("run-record")


def validate_record(data: Any, source: str = "run record") -> None:
    """Check a run record against the published JSON Schema (``RECORD_SCHEMA``).

    Raises
    ------
    InputError
        Naming the record, the first offending field and what the schema wants.
    """
    validate(data, "run-record", source)


def load_records(out: str | Path) -> list[dict[str, Any]]:
    """Every run record under ``out`` (any depth), sorted by run id, each checked
    against the run-record JSON Schema."""
    recs = []
    for p in sorted(Path(out).rglob("*.json")):
        if p.name.startswith("."):
            continue
        data = read_json(p, "run record")
        if isinstance(data, dict) and data.get("format") == RUN_FORMAT:
            validate_record(data, f"run record {p}")
            recs.append(data)
    return sorted(recs, key=lambda r: r["run_id"])


def _finished_ids(runs_dir: Path) -> set[str]:
    done = set()
    for p in runs_dir.glob("*.json"):
        try:
            status = json.loads(p.read_text(encoding="utf-8")).get("status")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            continue  # unreadable: run it again (the new record replaces it)
        if status in FINISHED:
            done.add(p.stem)
    return done


@dataclass
class BenchSummary:
    """What one call of :func:`run_specs` did."""

    total: int
    skipped: int
    ran: int
    errors: int
    records: list[dict[str, Any]]


def die_with_parent(parent: int, every_s: float = 0.5) -> None:
    """Process-pool initializer: the worker exits once ``parent`` is gone, and leaves
    Ctrl-C to it.

    A pool's workers outlive a parent killed by SIGKILL (no clean-up runs), and
    would go on solving for nobody; a daemon thread notices the worker has
    been re-parented and ends it. A terminal's Ctrl-C reaches the whole process
    group: the parent alone decides (it stops the pool), so no worker prints a
    traceback or returns a run cut short as if it were finished.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block: a worker process started in it (and a
    pool's manager thread created in it, which starts later ones) inherits the blocked
    signal, so a terminal's Ctrl-C never reaches a worker still starting up (a
    KeyboardInterrupt traceback from ``spawn_main``); here a Ctrl-C is only delayed."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Drop a pool's queued tasks and end its running workers now (on Ctrl-C).

    ``shutdown`` alone would wait for the running tasks, which can take the
    whole time limit of each.
    """
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(5.0)


def _resume_hint(done: int, total: int, where: Path) -> str:
    return (f"interrupted: {done} of {total} run(s) finished and recorded in {where}; "
            "run the same command again to resume (recorded runs are skipped)")


def run_isolated(fn: Callable[..., dict[str, Any]], tasks: dict[tuple[str, ...], tuple[Any, ...]],
                 runs_path: Path, *, jobs: int = 1,
                 describe: Callable[[dict[str, Any]], str] = lambda r: "",
                 key_of: Callable[[dict[str, Any]], tuple[str, ...]] = lambda r: tuple(r["key"]),
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """Run ``fn(*args)`` for every task not yet in ``runs_path``, each in a fresh process.

    For the benchmark scripts that measure one run's peak memory: every task
    gets a process of its own (``max_tasks_per_child=1``, spawn), whose workers
    die with this process. Each record (the dict ``fn`` returns; ``key_of``
    gives its task key, by default its ``"key"`` field) is appended to the
    JSON-lines file ``runs_path`` as it arrives, so a second call resumes.

    Returns
    -------
    (records, failures)
        Every record in the file (earlier ones included) and one line per task
        that raised in this call.
    """
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for line in runs_path.read_text().splitlines()
               if line.strip()] if runs_path.exists() else []
    done = {key_of(r) for r in records}
    todo = {k: a for k, a in tasks.items() if k not in done}
    print(f"{len(todo)} runs to do, {len(tasks) - len(todo)} already recorded", flush=True)
    failed: list[str] = []
    if not todo:
        return records, failed
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(jobs, mp_context=ctx, max_tasks_per_child=1,
                                  initializer=die_with_parent, initargs=(os.getpid(),))
    recorded = 0
    try:
        with sigint_blocked():
            futs = {pool.submit(fn, *args): key for key, args in todo.items()}
        for n, fut in enumerate(cf.as_completed(futs), start=1):
            key = futs[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # a failed run is reported, the others go on
                failed.append(f"- {' / '.join(key)}: {type(exc).__name__}: {exc}")
                print(f"[{n}/{len(todo)}] {' '.join(key)}: FAILED {type(exc).__name__}: {exc}",
                      flush=True)
                continue
            records.append(rec)
            with runs_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
            recorded += 1
            print(f"[{n}/{len(todo)}] {' '.join(key)}: {describe(rec)}", flush=True)
    except KeyboardInterrupt:  # the scripts' Ctrl-C: no traceback, the resume command
        stop_pool(pool)
        print(_resume_hint(recorded, len(todo), runs_path), flush=True)
        raise SystemExit(130) from None
    pool.shutdown()
    return records, failed


def write_bench_readme(out: Path, title: str, command: str, records: list[dict[str, Any]],
                       intro: list[str], summary_title: str, lines: list[str],
                       failed: list[str], table_md: str) -> None:
    """``out/README.md`` of a benchmark script: the command, the commits of its records,
    machine and versions, the script's explanation, its summary and its table."""
    import platform

    commits = sorted({r.get("commit", "") for r in records} - {""}) or [package_commit()]
    text = [
        f"# {title}", "",
        f"Made by `{command}` at commit {', '.join(commits)}, on {machine()} "
        f"({platform.node()}); versions: "
        + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".", "",
        *intro,
        f"## {summary_title}", "", *lines, "",
        *(["## Failed runs (this call)", "", *failed, ""] if failed else []),
        "## Table", "", table_md,
    ]
    (out / "README.md").write_text("\n".join(text), encoding="utf-8")


def _executor(jobs: int, scheduler: str | None, connect_timeout: float
              ) -> tuple[cf.Executor, Callable[[bool], None], str]:
    if scheduler is None:
        # spawn: workers start clean (no inherited solver threads or Dask loops); they
        # die with this process
        pool = cf.ProcessPoolExecutor(max_workers=jobs,
                                      mp_context=multiprocessing.get_context("spawn"),
                                      initializer=die_with_parent, initargs=(os.getpid(),))
        def close_pool(interrupted: bool) -> None:
            if interrupted:
                stop_pool(pool)
            else:
                pool.shutdown(cancel_futures=True)
        return pool, close_pool, f"{jobs} local process(es)"
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("--scheduler needs dask.distributed: pip install 'dask[distributed]'"
                         ) from None
    try:
        client = Client(scheduler, timeout=f"{connect_timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    n = len(client.scheduler_info().get("workers", {}))
    executor = client.get_executor(pure=False)  # every run is distinct work, never deduplicated

    def close(interrupted: bool) -> None:
        executor.shutdown(wait=False)  # Dask's executor cancels what is still going
        client.close()
    return executor, close, f"Dask cluster {scheduler} ({n} workers)"


def run_specs(specs: Iterable[RunSpec], out: str | Path, *, jobs: int = 1,
              scheduler: str | None = None, connect_timeout: float = 20.0,
              progress: Callable[[str], None] | None = None) -> BenchSummary:
    """Run every spec not finished in ``out`` and write one record per run as it ends.

    Parameters
    ----------
    specs
        The runs (duplicates are run once).
    out
        Output folder; records go to ``out/runs/RUN_ID.json``.
    jobs
        Local worker processes (ignored with ``scheduler``).
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``); the runs
        go to its workers, which need pimopt installed and the network files at
        the same paths (generated networks need no files).
    connect_timeout
        Seconds to wait for the Dask scheduler.
    progress
        Called with one line per event (default: print to stdout).
    """
    say = progress or (lambda s: print(s, flush=True))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"jobs = {jobs!r} is invalid: an integer from 1 to {MAX_JOBS}")
    unique: dict[str, RunSpec] = {}
    for s in specs:
        unique.setdefault(s.run_id, s)
    runs_dir = Path(out) / "runs"
    done = _finished_ids(runs_dir) if runs_dir.is_dir() else set()
    todo = [s for rid, s in unique.items() if rid not in done]
    skipped = len(unique) - len(todo)
    records: list[dict[str, Any]] = []
    errors = 0
    if not todo:
        say(f"{len(unique)} runs, all finished earlier in {runs_dir}: nothing to do")
        return BenchSummary(len(unique), skipped, 0, 0, records)
    # connect first: a cluster that cannot be reached leaves no empty output folder
    executor, close, where = _executor(jobs, scheduler, connect_timeout)
    local = scheduler is None
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        lock = _lock_folder(Path(out))
    except BaseException:
        close(True)
        raise
    with lock:
        for stale in [*runs_dir.glob(".*.tmp"), *runs_dir.glob(".*.pid")]:
            stale.unlink(missing_ok=True)  # left by a bench that was killed
        say(f"{len(unique)} runs: {skipped} finished earlier (skipped), {len(todo)} to run "
            f"on {where}")
        bar = None
        if progress is None and sys.stdout.isatty():  # a terminal: a live bar with ETA
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="run", dynamic_ncols=True)
            say = bar.write
        t0 = time.perf_counter()
        k = 0
        interrupted = False

        def submit(pool: cf.Executor, spec: RunSpec) -> cf.Future[dict[str, Any]]:
            if local:  # the worker marks which run it holds (a dead worker is known)
                with sigint_blocked():  # a worker is started in submit
                    return pool.submit(run_one_marked, spec.to_dict(), spec.run_id,
                                       str(runs_dir))
            return pool.submit(run_one, spec.to_dict())

        def finish(spec: RunSpec, rec: dict[str, Any]) -> None:
            nonlocal k, errors
            k += 1
            write_atomic(runs_dir / f"{spec.run_id}.json",
                         json.dumps(rec, indent=1, default=str) + "\n")
            records.append(rec)
            if rec["status"] == "error":
                errors += 1
            say(_progress_line(k, len(todo), spec, rec))
            if bar is not None:
                bar.update(1)

        try:
            futures = {submit(executor, s): s for s in todo}
            pending = set(futures)
            workers: dict[int, Any] = {}  # pid -> process of the local pool, as seen
            deaths: dict[str, int] = {}  # run id -> pools broken while it ran
            while pending:
                workers.update(getattr(executor, "_processes", None) or {})
                finished, pending = cf.wait(pending, timeout=1.0 if bar else HEARTBEAT_S,
                                            return_when=cf.FIRST_COMPLETED)
                if not finished:  # alive: the bar's clock ticks, logs get a line
                    if bar is not None:
                        bar.refresh()
                    else:
                        say(f"... {len(pending)} run(s) going, {k}/{len(todo)} done, "
                            f"{time.perf_counter() - t0:,.0f} s elapsed")
                    continue
                if local and any(isinstance(f.exception(), BrokenProcessPool)
                                 for f in finished):
                    # a worker died (killed, or a solver crashed the process): the pool
                    # is broken and fails every run it held; only the dead worker's run
                    # fails, the others go to a new pool
                    done_now, _ = cf.wait(pending)
                    finished |= done_now
                    pending = set()
                    broken = [f for f in finished
                              if isinstance(f.exception(), BrokenProcessPool)]
                    for fut in finished:
                        if fut not in broken:
                            try:
                                rec = fut.result()
                            except Exception as exc:  # not the pool: its own failure
                                rec = _failed_record(futures[fut], f"worker failed: {exc!r}")
                            finish(futures[fut], rec)
                    close(True)
                    dead = _dead_runs([futures[f].run_id for f in broken], runs_dir,
                                      workers, deaths)
                    executor, close, where = _executor(jobs, scheduler, connect_timeout)
                    workers = {}
                    for fut in broken:
                        spec = futures.pop(fut)
                        if spec.run_id in dead:
                            finish(spec, _failed_record(spec, dead[spec.run_id]))
                        else:
                            again = submit(executor, spec)
                            futures[again] = spec
                            pending.add(again)
                    continue
                for fut in finished:
                    spec = futures[fut]
                    try:
                        rec = fut.result()
                    except Exception as exc:  # a Dask worker failed (a crash): retried
                        rec = _failed_record(spec, f"worker failed: {exc!r}")
                    finish(spec, rec)
        except KeyboardInterrupt:  # Ctrl-C: no new run starts, running ones are dropped
            interrupted = True
            raise
        finally:
            if bar is not None:
                bar.close()
            close(interrupted)
            for stale in runs_dir.glob(".*.pid"):  # markers of the runs dropped
                stale.unlink(missing_ok=True)
            if interrupted:
                for stale in runs_dir.glob(".*.tmp"):  # a record cut mid-write
                    stale.unlink(missing_ok=True)
                say(_resume_hint(k, len(todo), runs_dir))
    return BenchSummary(len(unique), skipped, len(todo), errors, records)


LOCK_NAME = ".pimopt-bench.lock"


@contextlib.contextmanager
def _lock_folder(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for one writer: a second bench or sweep on the same folder is
    refused (it would run the same runs twice and remove the other's temporary records)."""
    path = out / LOCK_NAME
    fh = path.open("a+", encoding="ascii")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        owner = fh.read().strip() or "another process"
        fh.close()
        raise InputError(f"{out} is in use by another bench or sweep (pid {owner}); wait for "
                         "it to end or choose another --out") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock


def _dead_runs(run_ids: list[str], runs_dir: Path, workers: dict[int, Any],
               deaths: dict[str, int]) -> dict[str, str]:
    """The runs (id -> error) whose worker died, among those of a broken pool.

    A running worker leaves ``.RUN_ID.pid``. The pool ends the survivors with
    SIGTERM when it breaks, so a worker that ended otherwise (SIGKILL, a crash)
    is the one that died. If none can be told apart, every run that was running
    counts a death, and fails at its second (a run that crashes its worker
    every time cannot loop forever).
    """
    running: dict[str, int] = {}
    for rid in run_ids:
        marker = runs_dir / f".{rid}.pid"
        try:
            running[rid] = int(marker.read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # never started
        marker.unlink(missing_ok=True)
    dead: dict[str, str] = {}
    for rid, pid in running.items():
        proc = workers.get(pid)
        code = None
        if proc is not None:
            proc.join(2.0)
            code = proc.exitcode
        if code is not None and code != -signal.SIGTERM:
            how = (f"signal {signal.Signals(-code).name}" if code < 0 and
                   -code in signal.valid_signals() else f"exit code {code}")
            dead[rid] = f"worker process {pid} died ({how}) while running this run"
    if not dead:
        for rid, pid in running.items():
            deaths[rid] = deaths.get(rid, 0) + 1
            if deaths[rid] >= 2:
                dead[rid] = (f"worker process {pid} died while running this run, "
                             f"{deaths[rid]} times")
    return dead


HEARTBEAT_S = 30.0  # without a terminal, a line this often while runs are going


def _progress_line(k: int, n: int, spec: RunSpec, rec: dict[str, Any]) -> str:
    """One line per finished run: the grid point, the objective with its unit, the gap."""
    point = ", ".join(f"{key}={value}" for key, value in spec.params.items())
    head = (f"[{k}/{n}] {spec.instance}{f' ({point})' if point else ''} {spec.method} "
            f"seed {spec.seed}: {rec['status']}")
    if rec.get("objective") is not None:
        unit = rec.get("objective_unit", "")
        gap = "" if rec.get("gap") is None else f", gap {100 * rec['gap']:.2f}%"
        return (f"{head}, {spec.objective} {rec['objective']:,.2f} {unit}{gap} "
                f"({rec['runtime_s']:.1f} s)")
    return f"{head}: {rec.get('error')}"


# ---------------------------------------------------------------------- suites
@dataclass
class SuiteEntry:
    """One instance of a suite: a network file and an architecture."""

    name: str
    network: Path
    arch: Architecture
    objective: str
    options: dict[str, Any]


@dataclass
class Suite:
    """A named list of instances (see the module docstring for the TOML format)."""

    name: str
    path: Path
    description: str
    entries: list[SuiteEntry]

    def specs(self, methods: Iterable[str], seeds: Iterable[int], time_limit: float,
              options: dict[str, Any] | None = None,
              objective: str | None = None) -> list[RunSpec]:
        """Runs of every instance x method x seed (``options`` override the suite's)."""
        out = []
        for e in self.entries:
            recipe = {"path": str(e.network), "sha256": network_sha256(e.network)}
            for m in methods:
                for seed in seeds:
                    out.append(RunSpec(self.name, e.name, recipe, e.arch.to_dict(), m, seed,
                                       time_limit, objective or e.objective,
                                       {**e.options, **(options or {})},
                                       suite_file=str(self.path)))
        return out


def suite_dirs() -> list[Path]:
    """Where suite names are looked up: ``./instances/suites`` and the package's own."""
    data = Path(__file__).resolve().parent.parent / "data"
    return [Path.cwd() / "instances" / "suites", data / "suites", data / "instances" / "suites"]


def load_suite(spec: str | Path) -> Suite:
    """Load a suite from a TOML path or a name in :func:`suite_dirs`."""
    p = Path(spec)
    if not p.is_file():
        found = [d / f"{spec}.toml" for d in suite_dirs() if (d / f"{spec}.toml").is_file()]
        if not found:
            names = sorted({f.stem for d in suite_dirs() if d.is_dir() for f in d.glob("*.toml")})
            raise InputError(f"suite {str(spec)!r} is neither a TOML file nor a suite name; "
                             f"known names: {', '.join(names) or 'none'} (looked in "
                             f"{', '.join(str(d) for d in suite_dirs())})")
        p = found[0]
    data = read_toml(p, "suite file")
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise InputError(f"suite file {p}: unknown key(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(sorted(SUITE_KEYS))}")
    entries_data = data.get("instances")
    if not isinstance(entries_data, list) or not entries_data:
        raise InputError(f"suite file {p}: 'instances' must be a non-empty array of tables "
                         "([[instances]])")
    objective = data.get("objective", DEFAULTS.objective)
    options = data.get("options", {})
    check_options(options, f"suite file {p}")
    entries = []
    for i, e in enumerate(entries_data):
        where = f"suite file {p}: instances[{i}]"
        if not isinstance(e, dict) or "network" not in e:
            raise InputError(f"{where} needs a 'network' path")
        bad = sorted(set(e) - ENTRY_KEYS)
        if bad:
            raise InputError(f"{where}: unknown key(s) {', '.join(bad)}; allowed: "
                             f"{', '.join(sorted(ENTRY_KEYS))}")
        net_path = resolve_path(p, e["network"])
        arch_spec = str(e.get("arch", "default"))
        arch = load_architecture(resolve_path(p, arch_spec) if arch_spec.endswith(".toml")
                                 else arch_spec)
        opts = e.get("options", {})
        check_options(opts, where)
        name = str(e.get("name") or net_path.stem)
        entries.append(SuiteEntry(name, net_path, arch, str(e.get("objective", objective)),
                                  {**options, **opts}))
    names = [e.name for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"suite file {p}: instance name(s) {', '.join(dup)} appear twice: "
                         "give each a distinct 'name'")
    return Suite(str(data.get("name", p.stem)), p.resolve(), str(data.get("description", "")),
                 entries)


def resolve_path(base: Path, value: object) -> Path:
    """A path from a suite or sweep file: relative to that file; ``pimopt:`` = the package."""
    text = str(value)
    if text.startswith("pimopt:"):
        return package_path(text)
    q = Path(text)
    return q if q.is_absolute() else (base.parent / q).resolve()


def parse_list(text: str, what: str, cast: Callable[[str], Any] = str) -> list[Any]:
    """A comma-separated command-line list, with a clear error."""
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"{what} {text!r} is invalid: a comma-separated list") from None
    if not items:
        raise InputError(f"{what} {text!r} is empty")
    return items


def seeds_arg(text: str) -> list[int]:
    """Comma-separated seeds, each in the range every method accepts (CP-SAT's)."""
    seeds = parse_list(text, "--seeds", int)
    bad = [s for s in seeds if not 0 <= s < 2**31]
    if bad:
        raise InputError(f"--seeds {text!r} is invalid: seed {bad[0]} is not from 0 to "
                         f"{2**31 - 1}")
    return seeds


def methods_arg(text: str) -> list[str]:
    """``all`` or a comma-separated list of known method names."""
    from pimopt.methods.registry import METHODS

    if text == "all":
        return list(METHODS)
    items = parse_list(text, "--methods")
    bad = [m for m in items if m not in METHODS]
    if bad:
        raise InputError(f"--methods: unknown method(s) {', '.join(bad)}; one of "
                         f"{', '.join(METHODS)} or 'all'")
    return items
