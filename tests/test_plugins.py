"""One plug-in mechanism: built-ins by name, instances wherever a name goes, and plug-ins
from other installed packages found through their entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from mlpilot._plugins import PluginError, Registry
from mlpilot.compute import (
    EXECUTORS,
    Executor,
    Resources,
    TaskOutcome,
    create_executor,
    executor_kind,
    open_executor,
)
from mlpilot.compute._base import ONE_CORE
from mlpilot.errors import InvalidInputError
from mlpilot.monitor.actions import ACTIONS, Action, RecordAction, action_from_spec
from mlpilot.monitor.drift import DRIFT_TESTS, PSITest, ReferenceProfile, check_drift
from mlpilot.schedule.policies import POLICIES, Fifo
from mlpilot.tracking import TrackingClient
from mlpilot.tracking.flavors import FLAVORS, flavor_named
from mlpilot.tune import ASHA, PRUNERS, SAMPLERS, Float, Space, Trial, resume_study, tune
from mlpilot.tune._samplers import make_sampler
from mlpilot.tune.pruners import make_pruner

# -- a plug-in package, installed into a folder that a subprocess puts on its path -------

PLUGIN = '''
"""Plug-ins for every extension point the tests exercise."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sklearn.base import BaseEstimator

from mlpilot.compute import Executor, Resources, TaskOutcome
from mlpilot.monitor.actions import Action
from mlpilot.monitor.drift import ColumnResult, DriftTest
from mlpilot.tracking.flavors import Flavor


class ThreadExecutor(Executor):
    """Runs tasks on threads of this process."""

    name = "threads"

    def __init__(self, cpus: int | None = None) -> None:
        self.capacity = Resources(cpus=cpus or 2, gpus=0, memory_mb=1 << 20)
        self._pool = ThreadPoolExecutor(self.capacity.cpus)

    def submit(self, task_id, fn, args=(), kwargs=None, *, resources=Resources(),
               timeout_s=None) -> Future[TaskOutcome]:
        def run() -> TaskOutcome:
            started = time.time()
            try:
                value = fn(*args, **(kwargs or {}))
            except Exception as exc:
                return TaskOutcome(task_id, "error", error=repr(exc), node="threads")
            return TaskOutcome(task_id, "ok", value, node="threads", started_s=started,
                               ended_s=time.time())
        return self._pool.submit(run)

    def shutdown(self) -> None:
        self._pool.shutdown()


class MeanShiftTest(DriftTest):
    """Drift where a numeric column's mean moved by more than ``threshold``."""

    name = "mean-shift"

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    def applies_to(self, kind: str) -> bool:
        return kind == "numeric"

    def compare(self, window, columns):
        results = []
        for column in columns:
            reference = window.profile.columns[column].sample
            shift = abs(float(window.values(column).mean()) - float(reference.mean()))
            results.append(ColumnResult(column, self.name, shift, None, self.threshold,
                                        shift > self.threshold))
        return results


class Constant(BaseEstimator):
    """A model that predicts one value; a scikit-learn estimator, which the plug-in's
    flavor stores rather than scikit-learn's."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def predict(self, rows: Any) -> list[float]:
        return [self.value] * len(rows)


class ConstantFlavor(Flavor):
    name = "constant"
    file = "constant.json"
    packages = ()

    def accepts(self, model: Any) -> bool:
        return isinstance(model, Constant)

    def dump(self, model, *, input_example=None, classes=None):
        return json.dumps({"value": model.value}).encode(), {}

    def load(self, data, meta, what):
        return Constant(json.loads(data)["value"])


class NoteAction(Action):
    """Append the alert's message to a file."""

    name = "note"

    def __init__(self, path: str) -> None:
        self.path = path

    def run(self, context):
        with open(self.path, "a") as out:
            out.write(context.message + "\\n")
        return {"kind": self.name, "status": "ok", "detail": f"noted in {self.path}"}

    def to_spec(self):
        return {"kind": self.name, "path": self.path}
'''

FLOWS = """
from mlpilot import pipeline, step


@step
def double(x: int) -> int:
    return 2 * x


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def doubled(items: list[int] = [1, 2, 3]):
    return total(double.map(items))
"""

ENTRY_POINTS = """
[mlpilot.executors]
threads = mlpilot_demo:ThreadExecutor

[mlpilot.drift_tests]
mean-shift = mlpilot_demo:MeanShiftTest

[mlpilot.flavors]
constant = mlpilot_demo:ConstantFlavor

[mlpilot.actions]
note = mlpilot_demo:NoteAction
"""

BROKEN_ENTRY_POINTS = """
[mlpilot.executors]
slurm = mlpilot_broken.executor:SlurmExecutor

[mlpilot.policies]
fifo = mlpilot_broken.policy:Fifo
"""


def install(
    site: Path, dist: str, version: str, entry_points: str, files: Mapping[str, str]
) -> None:
    """Lay out a distribution as an installer would: its files plus a ``.dist-info``."""
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(textwrap.dedent(text))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install(
        site,
        "mlpilot-demo",
        "1.0",
        ENTRY_POINTS,
        {"mlpilot_demo/__init__.py": PLUGIN, "mlpilot_demo/flows.py": FLOWS},
    )
    install(site, "mlpilot-broken", "0.3", BROKEN_ENTRY_POINTS, {"mlpilot_broken/__init__.py": ""})
    return site


def run_python(site: Path, home: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter that has ``site`` on its path; its stdout."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "MLPILOT_HOME": str(home),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_plugin_package_is_found_and_used_by_name(site: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    out = run_python(
        site,
        tmp_path / "home",
        f"""
        import warnings
        warnings.simplefilter("error")  # a plug-in that loads cleanly warns of nothing

        import numpy as np
        import pandas as pd

        from mlpilot.compute import EXECUTORS
        from mlpilot.monitor.actions import ACTIONS, AlertContext, action_from_spec
        from mlpilot.monitor.drift import DRIFT_TESTS, ReferenceProfile, check_drift
        from mlpilot.tracking import TrackingClient
        from mlpilot.tracking.flavors import FLAVORS

        print("executors", list(EXECUTORS))
        print("tests", list(DRIFT_TESTS))
        print("flavors", list(FLAVORS))
        print("actions", list(ACTIONS))

        # A pipeline on the plug-in's executor, recorded under its name.
        from mlpilot_demo.flows import doubled
        run = doubled.run({{"items": [1, 2, 3, 4]}}, executor="threads")
        nodes = {{a.node for t in run.tasks() for a in t.attempts}}
        print("pipeline", run.status, run.value(), nodes)

        # A drift check with the plug-in's test, by name, beside a built-in one.
        rng = np.random.default_rng(0)
        profile = ReferenceProfile.from_frame(pd.DataFrame({{"x": rng.normal(0, 1, 500)}}))
        moved = pd.DataFrame({{"x": rng.normal(3, 1, 500)}})
        report = check_drift(profile, moved, tests=("mean-shift", "psi"))
        print("drift", sorted((r.test, r.drifted) for r in report.results))

        # A model of the plug-in's flavor, logged and loaded back.
        from mlpilot_demo import Constant
        client = TrackingClient()
        run_id = client.create_run("plugins").id
        client.log_model(run_id, Constant(4.5))
        loaded = client.load_model(run_id)
        print("model", type(loaded).__name__, loaded.predict([1, 2]))

        # An action named in a rule's table.
        note = action_from_spec({{"kind": "note", "path": {str(notes)!r}}})
        context = AlertContext(client, "m", "model", 1, "psi > 0.2", "psi of x 0.9", {{}})
        print("action", note.run(context)["status"], note.to_spec()["kind"])
        """,
    )
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert lines["executors"] == "['local', 'ray', 'slurm', 'threads']"
    assert lines["tests"] == "['ks', 'psi', 'chi2', 'mean-shift']"
    assert "'constant'" in lines["flavors"] and "'note'" in lines["actions"]
    assert lines["pipeline"] == "finished 20 {'threads'}"
    assert lines["drift"].endswith("[('mean-shift', True), ('psi', True)]")
    assert lines["model"] == "Constant [4.5, 4.5]"
    assert lines["action"] == "ok note"
    assert notes.read_text() == "psi of x 0.9\n"


def test_a_broken_plugin_names_its_package_and_entry_point(site: Path, tmp_path: Path) -> None:
    out = run_python(
        site,
        tmp_path / "home",
        """
        import warnings
        from mlpilot.compute import create_executor
        from mlpilot.errors import InvalidInputError
        from mlpilot.schedule.policies import POLICIES

        try:
            create_executor("slurm")
        except InvalidInputError as exc:
            print(type(exc).__name__, exc)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print("policy", type(POLICIES.get("fifo")).__module__, POLICIES.names())
        print("warning", caught[0].message)
        """,
    )
    error, policy, warning = out.splitlines()
    assert error.startswith("PluginError the executor 'slurm' from the package mlpilot-broken 0.3")
    assert "entry point mlpilot.executors:slurm = mlpilot_broken.executor:SlurmExecutor" in error
    assert "ModuleNotFoundError" in error
    # A plug-in cannot take a built-in's name.
    assert policy == (
        "policy mlpilot.schedule.policies._fifo ['makespan', 'deadline', 'fair-share', 'fifo']"
    )
    assert "mlpilot-broken" in warning and "'fifo'" in warning and "built-in is used" in warning


XSPACE = Space(x=Float(0.0, 1.0))

# -- every extension point: names, unknown names, instances -------------------------------


REGISTRIES: dict[str, tuple[Registry[Any], list[str]]] = {
    "executor": (EXECUTORS, ["local", "ray"]),
    "policy": (POLICIES, ["makespan", "deadline", "fair-share", "fifo"]),
    "sampler": (SAMPLERS, ["tpe", "gp", "cmaes", "nsga2", "random", "grid"]),
    "pruner": (PRUNERS, ["asha", "median"]),
    "drift test": (DRIFT_TESTS, ["ks", "psi", "chi2"]),
    "action": (ACTIONS, ["record", "webhook", "rollback", "retrain"]),
    "flavor": (FLAVORS, ["xgboost", "lightgbm", "pytorch", "sklearn"]),
}


@pytest.mark.parametrize("what", REGISTRIES)
def test_each_point_lists_its_builtins_and_refuses_an_unknown_name(what: str) -> None:
    registry, builtins = REGISTRIES[what]
    assert registry.names()[: len(builtins)] == builtins
    assert all(name in registry for name in builtins) and "nope" not in registry
    with pytest.raises(InvalidInputError, match=f"unknown {what} 'nope'; choose one of "):
        registry.get("nope")
    # Each built-in's class carries the name it is found by.
    for name in builtins:
        factory = registry[name]
        assert getattr(factory, "name", name) == name


def test_unknown_names_through_the_public_functions() -> None:
    with pytest.raises(InvalidInputError, match="unknown executor 'slurm'; choose one of local"):
        create_executor("slurm")
    with pytest.raises(InvalidInputError, match="unknown pruner 'hyperband'.* or none"):
        make_pruner("hyperband")
    with pytest.raises(InvalidInputError, match="unknown action 'page'; choose one of record"):
        action_from_spec({"kind": "page"})
    with pytest.raises(InvalidInputError, match="unknown flavor 'onnx'"):
        FLAVORS.get("onnx")
    with pytest.raises(InvalidInputError, match="a table with 'kind'"):
        action_from_spec(3)  # type: ignore[arg-type]


def test_options_a_plugin_does_not_take_are_refused_before_it_is_called() -> None:
    with pytest.raises(InvalidInputError, match="executor 'local' does not take .*address"):
        create_executor("local", address="auto")
    with pytest.raises(InvalidInputError, match="action 'webhook' does not take .*'url'"):
        action_from_spec({"kind": "webhook"})


class InlineExecutor(Executor):
    """Runs each task at once, in the calling thread; declares no name."""

    def __init__(self) -> None:
        self.capacity = Resources(cpus=1)

    def submit(
        self,
        task_id: str,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = ONE_CORE,
        timeout_s: float | None = None,
    ) -> Future[TaskOutcome]:
        done: Future[TaskOutcome] = Future()
        done.set_result(TaskOutcome(task_id, "ok", fn(*args, **(kwargs or {}))))
        return done

    def shutdown(self) -> None:
        pass


def test_instances_pass_through_wherever_a_name_goes() -> None:
    pool = InlineExecutor()
    assert open_executor(pool) == (pool, False)
    assert EXECUTORS.get(pool) is pool
    fifo, asha, psi, record = Fifo(), ASHA(), PSITest(0.1), RecordAction()
    assert POLICIES.get(fifo) is fifo
    assert make_pruner(asha) is asha
    assert DRIFT_TESTS.get(psi) is psi
    assert action_from_spec(record) is record
    with pytest.raises(InvalidInputError, match="or an instance of AllocationPolicy"):
        POLICIES.get(asha)  # type: ignore[arg-type]


def test_an_optuna_sampler_instance_is_accepted_as_a_sampler() -> None:
    import optuna

    space = XSPACE
    sampler = optuna.samplers.TPESampler(seed=1, n_startup_trials=3)
    assert make_sampler(sampler, seed=None, space=space, objectives=1) is sampler
    made = make_sampler("random", seed=3, space=space, objectives=1)
    assert isinstance(made, optuna.samplers.RandomSampler)
    with pytest.raises(InvalidInputError, match="'cmaes' optimises one objective"):
        make_sampler("cmaes", seed=None, space=space, objectives=2)


def quadratic(trial: Trial) -> float:
    return -((float(trial.params["x"]) - 0.3) ** 2)


def test_a_study_runs_with_an_optuna_sampler_object(tmp_path: Path) -> None:
    import optuna

    client = TrackingClient(
        store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_uri=(tmp_path / "a").as_uri()
    )
    study = tune(
        quadratic,
        Space(x=Float(0.0, 1.0)),
        sampler=optuna.samplers.RandomSampler(seed=7),
        trials=3,
        executor=InlineExecutor(),
        client=client,
    )
    assert [t.state for t in study.trials] == ["complete"] * 3
    assert study.record.sampler["name"] == "optuna.samplers._random:RandomSampler"
    with pytest.raises(InvalidInputError, match="pass an instance of it as the sampler"):
        make_sampler(study.record.sampler["name"], seed=None, space=XSPACE, objectives=1)
    # Resuming needs the object again: the store holds only its class.
    with pytest.raises(InvalidInputError, match="pass an instance of it as the sampler"):
        resume_study(study.name, executor=InlineExecutor(), client=client)
    resumed = resume_study(
        study.name,
        sampler=optuna.samplers.RandomSampler(seed=8),
        executor=InlineExecutor(),
        client=client,
    )
    assert [t.state for t in resumed.trials] == ["complete"] * 3


def test_an_executor_without_a_name_is_recorded_by_its_class_not_as_local() -> None:
    assert executor_kind(create_executor("local", cpus=1)) == "local"
    kind = executor_kind(InlineExecutor())
    assert kind == f"{__name__}:InlineExecutor"
    with pytest.raises(InvalidInputError, match="pass an instance of it as the executor"):
        open_executor(kind)


def test_the_record_action_is_an_action_like_the_others() -> None:
    assert isinstance(action_from_spec("record"), RecordAction)
    record = action_from_spec({"kind": "record"})
    assert (record.name, record.kind, record.to_spec()) == ("record", "record", "record")
    outcome = record.run(None)  # type: ignore[arg-type]  # it needs nothing of the alert
    assert outcome == {"kind": "record", "status": "ok", "detail": "alert recorded"}
    assert isinstance(record, Action)


def test_drift_tests_named_in_check_drift_take_its_settings() -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": [float(i) for i in range(200)], "c": ["a", "b"] * 100})
    profile = ReferenceProfile.from_frame(frame)
    report = check_drift(profile, frame, tests=("psi", "ks"), psi_threshold=0.3, alpha=0.01)
    assert {(r.test, r.threshold) for r in report.results} == {("psi", 0.3), ("ks", 0.01)}
    with pytest.raises(InvalidInputError, match="unknown drift test 'emd'; choose one of ks"):
        check_drift(profile, frame, tests=("emd",))


def test_a_stored_model_of_a_flavor_no_package_provides_says_so() -> None:
    from mlpilot.errors import ArtifactCorruptedError

    assert flavor_named("sklearn").name == "sklearn"
    with pytest.raises(ArtifactCorruptedError, match="flavor 'onnx', which no installed package"):
        flavor_named("onnx")


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entries: EntryPoint) -> None:
    monkeypatch.setattr(
        "mlpilot._plugins._entry_points",
        lambda group: [e for e in entries if e.group == group],
    )


def test_a_plugin_whose_class_names_itself_otherwise_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_entry_points(
        monkeypatch,
        EntryPoint("lifo", "mlpilot.schedule.policies._fifo:Fifo", "mlpilot.policies"),
        EntryPoint("five", "math:tau", "mlpilot.policies"),
        EntryPoint("five", "math:pi", "mlpilot.policies"),
    )
    registry: Registry[Any] = Registry("policies", "policy", "abc:ABC", {})
    with pytest.warns(UserWarning, match="both declare the policy 'five'; the latter is used"):
        assert registry.names() == ["five", "lifo"]
    with pytest.raises(PluginError, match="'lifo' is the class Fifo, whose name attribute says"):
        registry["lifo"]
    with pytest.raises(PluginError, match="names math:tau, which is not a class or function"):
        registry["five"]


def test_a_memory_url_serves_as_the_artifact_store(tmp_path: Path) -> None:
    # Artifact backends are fsspec filesystems: fsspec's registry makes them pluggable.
    client = TrackingClient(
        store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_uri="memory://plugins-test"
    )
    run_id = client.create_run("memory").id
    client.log_blobs(run_id, {"notes.txt": b"kept in memory"})
    assert client.read_artifact(run_id, "notes.txt") == b"kept in memory"
    assert "memory" in client.store.artifacts.fs.protocol
