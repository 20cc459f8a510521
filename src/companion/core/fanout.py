"""Independent configurations of an experiment, run locally or fanned out to a Dask cluster.

``map(fn, configs)`` returns ``[fn(c) for c in configs]``, in order, whatever runs it:

- by default in this process, one configuration after the other (no Dask needed);
- with ``scheduler="local:N"`` on a Dask ``LocalCluster`` of N single-threaded workers started for the call;
- with ``scheduler="tcp://HOST:PORT"`` (or ``$COMPANION_SCHEDULER``) on an existing Dask cluster, each
  configuration a task on a worker with its own device.

With ``store=DIR`` every result is written atomically to ``DIR/<key>.pkl`` as soon as it exists, and a rerun
loads what is there instead of computing it again: a worker that dies loses only its own configuration.
``fn`` must be a module-level function (it is pickled for the workers) and deterministic given its config,
so results are identical either way. A stored result is found by its configuration alone: a configuration
must name everything its result depends on, the data (:func:`data_key`) and the code (:func:`source_key`)
included, or a store could answer for other data or other code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from companion.core.files import atomic_write

T = TypeVar("T")


def config_key(config: Any) -> str:
    """A stable file name for a configuration: a hash of its JSON (sorted keys; non-JSON values by repr)."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def data_key(*arrays: Any) -> str:
    """A hash of arrays (torch tensors or numpy arrays): dtype, shape and bytes of each, in order."""
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        v = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        v = np.ascontiguousarray(v)
        h.update(f"{v.dtype}{v.shape}".encode())
        h.update(v.tobytes())
    return h.hexdigest()[:20]


@lru_cache(maxsize=1)
def source_key() -> str:
    """A hash of the ``companion`` package's Python sources (every ``.py`` file under it, by path)."""
    root = Path(__file__).resolve().parents[1]               # the companion package
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def _save(path: Path, value: Any) -> None:
    atomic_write(path, lambda fh: pickle.dump(value, fh))


def _run_one(fn: Callable[[Any], T], config: Any, store: str | None) -> T:
    """Compute one configuration, or load it from the store; save it there atomically once computed."""
    if store is None:
        return fn(config)
    path = Path(store) / f"{config_key(config)}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    value = fn(config)
    _save(path, value)
    return value


def resolve_scheduler(scheduler: str | None) -> str | None:
    """The scheduler to use: the argument, else ``$COMPANION_SCHEDULER``, else None (this process).
    Accepts ``local:N`` (N ≥ 1) or an address ``tcp://…``; anything else is refused, naming the forms."""
    s = scheduler if scheduler is not None else os.environ.get("COMPANION_SCHEDULER") or None
    if s is None or s in ("", "none"):
        return None
    if s.startswith("local:"):
        n = s.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"scheduler {s!r}: give local:N with N ≥ 1 workers, e.g. local:2")
        return s
    if "://" in s:
        return s
    raise ValueError(f"unknown scheduler {s!r}: give local:N (a LocalCluster of N workers) or a Dask scheduler "
                     "address such as tcp://10.0.0.1:8786")


#: Thread settings Dask sets to 1 in its workers by default (and, while spawning them, in the calling process's
#: environment). A LocalCluster started here leaves them as the caller has them: MKL and OpenMP choose their
#: kernels by them, and a configuration must compute the same bits in a worker as in this process. Workers of
#: an existing cluster should be started with the client's values for the same reason.
THREAD_ENV: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def dask_client(scheduler: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``local:N`` (a LocalCluster started and stopped here, its workers with this
    process's :data:`THREAD_ENV`) or an address."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a test dependency
        raise ImportError("a Dask scheduler needs the `distributed` package: pip install distributed") from exc
    if scheduler.startswith("local:"):
        keep_env = {f"distributed.nanny.pre-spawn-environ.{k}": None for k in THREAD_ENV}
        with dask.config.set(keep_env), LocalCluster(n_workers=int(scheduler.split(":", 1)[1]), threads_per_worker=1,
                                                     processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def map(fn: Callable[[Any], T], configs: Sequence[Any], *, scheduler: str | None = None,
        store: str | Path | None = None, progress: Callable | None = None) -> list[T]:
    """``[fn(c) for c in configs]``, locally or on Dask (see the module docstring). ``progress``: an optional
    wrapper for the local loop (e.g. :func:`companion.book.runtime.progress`)."""
    configs = list(configs)
    sched = resolve_scheduler(scheduler)
    st = None
    if store is not None:
        Path(store).mkdir(parents=True, exist_ok=True)
        st = str(Path(store).resolve())
    if sched is None:
        it = progress(configs) if progress else configs
        return [_run_one(fn, c, st) for c in it]
    with dask_client(sched) as client:
        futures = [client.submit(_run_one, fn, c, st, pure=False) for c in configs]
        return client.gather(futures)
