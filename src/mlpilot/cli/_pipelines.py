"""``mlpilot pipelines``: run, list, show, resume and cancel pipeline runs."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from rich.tree import Tree

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import InvalidInputError
from mlpilot.schedule import (
    POLICIES,
    PipelineRecords,
    PipelineRun,
    PipelineRunRecord,
    TaskRecord,
    cancel_pipeline,
    load_pipeline,
    resume_pipeline,
)

app = typer.Typer(no_args_is_help=True, help="Run, list, show, resume and cancel pipelines.")

RunIdArgument = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="A run id or a unique prefix of 6+ characters.")
]

_TASK_STYLES = {
    "done": "green",
    "cached": "green",
    "running": "cyan",
    "retrying": "yellow",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "yellow",
    "lost": "red",
    "pending": "dim",
}
_FINAL = ("done", "cached", "failed", "skipped", "cancelled", "lost")
# Siblings of one step shown under a task before the rest are summed up in one line.
_SHOWN_SIBLINGS = 12


@app.command("run")
def run(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(metavar="FILE:PIPELINE", help="e.g. flows.py:train or pkg.flows:train")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help=(
                'A pipeline parameter (repeatable). VALUE is JSON (a list: \'["a","b"]\'), '
                "or plain text for a parameter annotated str."
            ),
        ),
    ] = None,
    executor: _output.ExecutorOption = None,
    policy: Annotated[
        str, typer.Option("--policy", help=f"One of: {', '.join(sorted(POLICIES))}.")
    ] = "makespan",
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="30m, 2h, 1d, or an ISO time (UTC unless it says)."),
    ] = None,
    cpus: _output.CpusOption = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment (pipelines).")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", metavar="KEY=VALUE", help="A tag of the run (repeatable)."),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Run a pipeline to its end, showing each step's progress as it goes.

    mlpilot pipelines run flows.py:train --param families='["logreg","forest"]' --deadline 30m
    """
    found = load_pipeline(target)
    params = found.parse_params(_params(param or []))
    client = state(ctx).client()
    live = _LiveProgress(client, quiet=as_json)
    try:
        with live:
            result = found.run(
                params,
                executor=executor or "local",
                policy=policy,
                deadline=deadline,
                cpus=cpus,
                experiment=experiment,
                client=client,
                observer=live.update,
                on_start=live.start,
                tags=_tags(tag or []),
            )
    except KeyboardInterrupt:
        _interrupted(live.run, as_json)
    _report(result, as_json)


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: RunIdArgument,
    executor: _output.ExecutorOption = None,
    cpus: _output.CpusOption = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Finish a stopped run (its driver was killed, or it failed): every task that
    completed keeps its output; only the others run."""
    client = state(ctx).client()
    live = _LiveProgress(client, quiet=as_json)
    try:
        with live:
            live.start(PipelineRun(client.resolve_run_id(run_id), "", "running", client))
            result = resume_pipeline(
                run_id, executor=executor, cpus=cpus, client=client, observer=live.update
            )
    except KeyboardInterrupt:
        _interrupted(live.run, as_json)
    _report(result, as_json)


@app.command("cancel")
def cancel(ctx: typer.Context, run_id: RunIdArgument) -> None:
    """Stop a running pipeline run: its driver stops its tasks and ends it as killed."""
    client = state(ctx).client()
    cancel_pipeline(run_id, client=client)
    _output.stderr().print(
        f"Asked run {client.resolve_run_id(run_id)} to stop; its driver will within a second."
    )


@app.command("list")
def list_runs(
    ctx: typer.Context,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs.")] = 50,
    as_json: _output.JsonOption = False,
) -> None:
    """List pipeline runs, newest first, with how far their tasks got."""
    records = _records(ctx)
    runs = records.list_runs(pipeline, limit)
    counts = records.counts([r.run_id for r in runs])
    if as_json:
        _output.print_json([r.to_dict() | {"tasks_by_status": counts[r.run_id]} for r in runs])
        return
    if not runs:
        _output.stderr().print("No pipeline runs yet.")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("run", "pipeline", "status", "tasks", "policy", "executor", "started", "took"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            _output.short_id(r.run_id),
            r.pipeline,
            _output.status(r.status),
            _task_counts(counts[r.run_id]),
            r.policy,
            r.executor,
            _output.human_time(r.start_ms),
            _output.duration(None if r.end_ms is None else r.end_ms - r.start_ms),
        )
    _output.stdout().print(table)


@app.command("show")
def show(ctx: typer.Context, run_id: RunIdArgument, as_json: _output.JsonOption = False) -> None:
    """Draw a run's graph with each task's state, duration and resources."""
    client = state(ctx).client()
    records = _records(ctx)
    record = records.get(client.resolve_run_id(run_id))
    tasks = records.tasks(record.run_id)
    if as_json:
        document = record.to_dict()
        document["tasks_by_status"] = dict(Counter(t.status for t in tasks))
        document["tasks"] = [t.to_dict() for t in tasks]
        _output.print_json(document)
        return
    console = _output.stdout()
    header = Text.assemble(
        (record.pipeline, "bold"),
        f"  run {record.run_id}  ",
        _output.status(record.status),
        f"  policy {record.policy}  executor {record.executor}",
    )
    if record.deadline_ms is not None:
        header.append(f"  deadline {_output.local_time(record.deadline_ms)}")
    console.print(header)
    console.print(_dag(record, tasks))
    failed = [t for t in tasks if t.status == "failed"]
    for task in failed:
        console.print(Text(f"\n{task.name} failed:", style="red bold"))
        console.print(Text(task.error.strip()[-3000:]))


# -- helpers -----------------------------------------------------------------------------


def _params(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as text by name; the pipeline reads each by its annotation."""
    return _pairs(pairs, "--param", "NAME=VALUE")


def _tags(pairs: list[str]) -> dict[str, str]:
    return _pairs(pairs, "--tag", "KEY=VALUE")


def _pairs(pairs: list[str], option: str, form: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError(f"{option} takes {form}, not {pair!r}")
        found[name] = text
    return found


def _records(ctx: typer.Context) -> PipelineRecords:
    return state(ctx).store().pipelines


def _interrupted(run: PipelineRun | None, as_json: bool) -> NoReturn:
    """After Ctrl-C: say which run stopped and how to finish it, and exit 130."""
    if run is not None:
        if as_json:
            _output.print_json({"run_id": run.id, "status": "killed"})
        console = _output.stderr()
        console.print(Text.assemble(f"run {run.id} ", _output.status("killed")))
        console.print(f"finish it with: mlpilot pipelines resume {run.id}")
    raise typer.Exit(130)


def _report(result: PipelineRun, as_json: bool) -> None:
    counts = Counter(t.status for t in result.tasks())
    if as_json:
        _output.print_json(
            {
                "run_id": result.id,
                "status": result.status,
                "tasks": dict(counts),
                "late": result.late,
            }
        )
    else:
        console = _output.stderr()
        console.print(
            Text.assemble(
                f"run {result.id} ", _output.status(result.status), f"  {_task_counts(counts)}"
            )
        )
        console.print(f"see it with: mlpilot pipelines show {result.id[:8]}")
    if result.status != "finished":
        raise typer.Exit(1)


def _task_counts(counts: Any) -> str:
    total = sum(counts.values())
    done = counts.get("done", 0) + counts.get("cached", 0)
    parts = [f"{done}/{total} done"]
    parts += [
        f"{counts[s]} {s}" for s in ("cached", "failed", "skipped", "cancelled") if counts.get(s)
    ]
    return ", ".join(parts)


def _dag(record: PipelineRunRecord, tasks: list[TaskRecord]) -> Tree:
    """The graph as a tree: each task under the last task it waits for, fan-ins noted."""
    tree = Tree(Text(record.pipeline, style="bold"))
    nodes: dict[str, Tree] = {}
    shown: Counter[tuple[str, str]] = Counter()
    hidden: dict[tuple[str, str], list[TaskRecord]] = {}
    for task in tasks:  # stored in graph order: a task's inputs come before it
        parent_name = task.upstream[-1] if task.upstream else ""
        parent = nodes.get(parent_name, tree)
        group = (parent_name, task.step)
        shown[group] += 1
        if shown[group] > _SHOWN_SIBLINGS:
            hidden.setdefault(group, []).append(task)
            nodes[task.name] = parent
            continue
        nodes[task.name] = parent.add(_task_line(task, record.status))
    for (parent_name, step_name), rest in hidden.items():
        states = Counter(_state(t, record.status) for t in rest)
        summary = ", ".join(f"{n} {s}" for s, n in states.most_common())
        nodes.get(parent_name, tree).add(
            Text(f"… {len(rest)} more {step_name} tasks ({summary})", style="dim")
        )
    return tree


def _state(task: TaskRecord, run_status: str) -> str:
    # Tasks a driver left running when it died are not running any more.
    if task.status == "running" and run_status != "running":
        return "interrupted"
    return task.status


def _task_line(task: TaskRecord, run_status: str) -> Text:
    status = _state(task, run_status)
    line = Text.assemble((task.name, "bold"), "  ", (status, _TASK_STYLES.get(status, "yellow")))
    if task.seconds is not None:
        line.append(f"  {_output.duration(int(task.seconds * 1000))}")
    if task.attempts:
        last = task.attempts[-1]
        used = ""
        if last.cpu_seconds is not None and last.seconds:
            used = f", used {last.cpu_seconds / last.seconds:.1f}"
        memory = f", peak {last.peak_rss_mb:.0f} MB" if last.peak_rss_mb else ""
        line.append(f"  {last.cpus} cpu{used}{memory}", style="dim")
        if last.node:
            line.append(f"  on {last.node}", style="dim")
        if len(task.attempts) > 1:
            line.append(f"  {len(task.attempts)} attempts", style="yellow")
    if task.cached_from:
        line.append("  from cache", style="dim")
    if len(task.upstream) > 1:
        inputs = task.upstream if len(task.upstream) <= 4 else [*task.upstream[:3], "…"]
        line.append(f"  ← {', '.join(inputs)}", style="dim")
    return line


class _LiveProgress:
    """One progress bar per step, advanced as the run's tasks finish."""

    def __init__(self, client: Any, quiet: bool) -> None:
        self.client = client
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=_output.stderr(),
            disable=quiet,
        )
        #: The run being drawn, once it has started.
        self.run: PipelineRun | None = None
        self.bars: dict[str, Any] = {}
        self.step_of: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self.counts: dict[str, Counter[str]] = {}

    def __enter__(self) -> _LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, run: PipelineRun) -> None:
        self.run = run
        if run.late:
            shown = ", ".join(run.late[:5]) + (" …" if len(run.late) > 5 else "")
            self.progress.console.print(
                Text(
                    f"warning: by the estimates from earlier runs, {len(run.late)} task(s) "
                    f"cannot finish by the deadline even on every core: {shown}",
                    style="yellow",
                )
            )
        for task in run.tasks():
            self.step_of[task.name] = task.step
            self.status[task.name] = task.status
            self.counts.setdefault(task.step, Counter())[task.status] += 1
        for name, counts in self.counts.items():
            self.bars[name] = self.progress.add_task(name, total=counts.total(), note="")
            self._refresh(name)

    def update(self, task: str, status: str) -> None:
        step_name = self.step_of.get(task)
        if step_name is None:
            return
        counts = self.counts[step_name]
        counts[self.status[task]] -= 1
        counts[status] += 1
        self.status[task] = status
        self._refresh(step_name)

    def _refresh(self, step_name: str) -> None:
        counts = self.counts[step_name]
        note = ", ".join(
            f"{counts[s]} {s}"
            for s in _TASK_STYLES
            if counts[s] > 0 and s not in ("done", "pending")
        )
        self.progress.update(
            self.bars[step_name], completed=sum(counts[s] for s in _FINAL), note=note
        )
