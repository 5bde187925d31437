"""What runs inside a worker process for each task: inputs in, step, output out.

Inputs are read from the artifact store by digest and the output is written there
before the worker reports back, so data never passes through the driver and a task
that finished has its output stored whatever happens to the driver afterwards.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from mlpilot.compute import Resources
from mlpilot.schedule import _step
from mlpilot.schedule._graph import substitute
from mlpilot.schedule._step import Step, StepRef, TaskContext, current
from mlpilot.store import ArtifactStore
from mlpilot.store._store import open_artifacts

_stores: dict[str, ArtifactStore] = {}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to run one attempt of a task."""

    run_id: str
    task: str
    step: str
    attempt: int
    ref: StepRef
    #: ``(args, kwargs)`` pickled, so that types from the user's module load only after
    #: the worker has imported that module.
    arguments: bytes
    inputs: dict[str, str]
    artifacts_uri: str
    resources: Resources


@dataclasses.dataclass(frozen=True)
class StoredOutput:
    """Where a task's output went, or why it could not be stored."""

    digest: str | None
    size: int
    error: str = ""


def run_task(spec: TaskSpec) -> StoredOutput:
    fn = resolve(spec.ref)
    store = _stores.get(spec.artifacts_uri) or _stores.setdefault(
        spec.artifacts_uri, open_artifacts(spec.artifacts_uri)
    )
    values = {name: pickle.loads(store.get_bytes(d)) for name, d in spec.inputs.items()}
    args, kwargs = substitute(pickle.loads(spec.arguments), values)
    token = current.set(
        TaskContext(spec.run_id, spec.task, spec.step, spec.attempt, spec.resources)
    )
    try:
        result = fn(*args, **kwargs)
    finally:
        current.reset(token)
    try:
        data = pickle.dumps(result, protocol=5)
    except Exception as exc:
        return StoredOutput(
            None,
            0,
            f"step {spec.step!r} returned a {type(result).__name__}, which cannot be stored "
            f"({type(exc).__name__}: {exc}); return data that pickles (arrays, frames, "
            "fitted models, plain Python values)",
        )
    blob = store.put_bytes(data)
    return StoredOutput(blob.digest, blob.size)


def resolve(ref: StepRef) -> Any:
    """The function a :class:`StepRef` names, importing its module or file if needed."""
    module = sys.modules.get(ref.module)
    if module is None or (ref.file and _file_of(module) != ref.file):
        module = _import(ref)
    target: Any = module
    for part in ref.qualname.split("."):
        target = getattr(target, part)
    return target.fn if isinstance(target, Step) else target


def _import(ref: StepRef) -> Any:
    if ref.module != "__main__":
        try:
            module = importlib.import_module(ref.module)
        except ImportError:
            if not ref.file:
                raise
        else:
            if not ref.file or _file_of(module) == ref.file:
                return module
    assert ref.file is not None
    # A script's own __main__ is another program here: load it under a name of its own,
    # so that its `if __name__ == "__main__":` block does not run again.
    name = ref.module if ref.module != "__main__" else "__mlpilot_main__"
    _step._importing_script = True
    try:
        return load_file_as(name, ref.file)
    finally:
        _step._importing_script = False


def load_file_as(name: str, file: str) -> Any:
    """Import the Python file ``file`` as module ``name`` (once), beside its neighbours.

    A module that fails while loading is not left behind in ``sys.modules``.
    """
    loaded = sys.modules.get(name)
    if loaded is not None and _file_of(loaded) == os.path.abspath(file):
        return loaded
    folder = str(Path(file).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so that it imports its neighbours
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


#: Modules mlpilot loaded from a file path; another process finds them by that path.
loaded_from_files: set[str] = set()


def source_of(fn: Any) -> str:
    """How another process finds ``fn`` again: ``FILE:NAME`` or ``MODULE:NAME``."""
    module = fn.__module__
    file = inspect.getsourcefile(fn)
    if (module == "__main__" or module in loaded_from_files) and file:
        return f"{os.path.abspath(file)}:{fn.__qualname__}"
    return f"{module}:{fn.__qualname__}"


def _file_of(module: Any) -> str | None:
    file = getattr(module, "__file__", None)
    return os.path.abspath(file) if file else None
