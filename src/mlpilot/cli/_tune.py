"""``mlpilot tune``: run, list, show and resume hyperparameter studies."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mlpilot.cli import _output
from mlpilot.cli._state import state
from mlpilot.errors import InvalidInputError
from mlpilot.tune import (
    PRUNERS,
    SAMPLERS,
    Study,
    TrialRecord,
    resume_study,
    tune,
    write_report,
)

app = typer.Typer(no_args_is_help=True, help="Run, list, show and resume hyperparameter studies.")

StudyArgument = Annotated[
    str, typer.Argument(metavar="STUDY", help="A study's name, or its run id (6+ characters).")
]
_STATE_STYLES = {
    "complete": "green",
    "pruned": "magenta",
    "failed": "red",
    "killed": "yellow",
    "running": "cyan",
}
# Trials listed by `show`, best first.
_TOP = 10


@app.command("run")
def run(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(metavar="FILE:OBJECTIVE", help="e.g. search.py:objective or pkg.mod:fn"),
    ],
    space: Annotated[str, typer.Option("--space", help="TOML file with one table per parameter.")],
    sampler: Annotated[
        str, typer.Option("--sampler", help=f"One of: {', '.join(SAMPLERS)}.")
    ] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", help=f"One of: {', '.join(PRUNERS)}, none.")
    ] = "none",
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Trials to run.")] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="Stop starting trials after this long (90s, 30m, 2h)."),
    ] = None,
    core_hours: Annotated[
        float | None,
        typer.Option("--core-hours", help="Stop starting trials once they used this much."),
    ] = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", min=1, help="Most trials at once (all that fit).")
    ] = None,
    direction: Annotated[
        list[str] | None,
        typer.Option(
            "--direction",
            "-d",
            help="maximize (default) or minimize; once per objective for several.",
        ),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="A name for each objective's value (value)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Repeatable sampling.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The study's name (the objective's).")
    ] = None,
    cpus_per_trial: Annotated[
        int, typer.Option("--cpus-per-trial", min=1, help="Cores each trial gets.")
    ] = 1,
    gpus_per_trial: Annotated[
        int, typer.Option("--gpus-per-trial", min=0, help="GPUs each trial gets.")
    ] = 0,
    trial_timeout: Annotated[
        float | None,
        typer.Option("--trial-timeout", help="Seconds after which a trial is stopped as failed."),
    ] = None,
    executor: _output.ExecutorOption = None,
    cpus: _output.CpusOption = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment (tuning).")
    ] = None,
    report: Annotated[
        bool | None,
        typer.Option(
            "--report/--no-report",
            help="Draw plots and a page when it ends (default: if it ran a minute or more).",
        ),
    ] = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Search a space for the parameters that optimise an objective.

    mlpilot tune run search.py:objective --space space.toml --sampler tpe --pruner asha
    --trials 100 --parallel 4
    """
    client = state(ctx).client()
    directions = direction or ["maximize"]
    with _LiveTrials(trials, directions, quiet=as_json) as live:
        study = tune(
            target,
            space,
            name=name,
            directions=directions,
            metrics=metric,
            sampler=sampler,
            seed=seed,
            pruner=pruner,
            trials=trials,
            timeout=timeout,
            core_hours=core_hours,
            parallel=parallel,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            trial_timeout_s=trial_timeout,
            executor=executor or "local",
            cpus=cpus,
            experiment=experiment,
            client=client,
            observer=live.update,
            report=report,
        )
    _summary(study, as_json)


@app.command("resume")
def resume(
    ctx: typer.Context,
    study: StudyArgument,
    executor: _output.ExecutorOption = None,
    cpus: _output.CpusOption = None,
    as_json: _output.JsonOption = False,
) -> None:
    """Go on with a stopped study: every ended trial is kept, trials that were running
    are run again, and the rest of the budget is spent."""
    client = state(ctx).client()
    stored = Study.load(study, client=client)
    with _LiveTrials(
        stored.record.budget.get("trials"), stored.directions, quiet=as_json, done=stored.trials
    ) as live:
        resumed = resume_study(
            stored.id, executor=executor, cpus=cpus, client=client, observer=live.update
        )
    _summary(resumed, as_json)


@app.command("list")
def list_studies(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many studies.")] = 50,
    as_json: _output.JsonOption = False,
) -> None:
    """List studies, newest first, with their trials and best value."""
    client = state(ctx).client()
    records = client.store.studies
    studies = [Study(r, records.trials(r.run_id), client) for r in records.recent(limit)]
    if as_json:
        _output.print_json([s.to_dict() for s in studies])
        return
    if not studies:
        _output.stderr().print("No studies yet; start one with `mlpilot tune run`.")
        return
    table = Table(box=None, header_style="bold")
    for column in (
        "study",
        "name",
        "status",
        "trials",
        "best",
        "sampler",
        "pruner",
        "started",
        "took",
    ):
        table.add_column(column)
    for s in studies:
        table.add_row(
            _output.short_id(s.id),
            s.name,
            _output.status(s.status),
            _counts(s.counts()),
            _best(s),
            s.record.sampler["name"],
            s.record.pruner["name"] or "none",
            _output.human_time(s.record.start_ms),
            _output.duration(
                None if s.record.end_ms is None else s.record.end_ms - s.record.start_ms
            ),
        )
    _output.stdout().print(table)


@app.command("show")
def show(ctx: typer.Context, study: StudyArgument, as_json: _output.JsonOption = False) -> None:
    """Show a study: its best trial (or Pareto front), what mattered, its top trials."""
    client = state(ctx).client()
    found = Study.load(study, client=client)
    if as_json:
        document = found.to_dict()
        document["importances"] = found.importances() if len(found.directions) == 1 else {}
        document["trials"] = [t.to_dict() for t in found.trials]
        _output.print_json(document)
        return
    console = _output.stdout()
    record = found.record
    console.print(
        Text.assemble(
            (found.name, "bold"),
            f"  study {found.id}  ",
            _output.status(found.status),
            f"  {_counts(found.counts())}",
        )
    )
    console.print(
        f"sampler {record.sampler['name']}  pruner {record.pruner['name'] or 'none'}  "
        f"{' / '.join(f'{m} ({d})' for m, d in zip(record.metrics, found.directions, strict=True))}"
        f"  executor {record.executor}"
    )
    if not found.complete:
        console.print(Text("No trial is complete yet.", style="yellow"))
    elif len(found.directions) > 1:
        front = found.pareto_front
        console.print(Text(f"\nPareto front ({len(front)} trials)", style="bold"))
        console.print(_trials_table(found, front))
    else:
        best = found.best_trial
        console.print(Text(f"\nBest trial #{best.number}", style="bold"), end="  ")
        console.print(f"{record.metrics[0]} = {_output.number(found.best_value)}")
        for key, value in best.params.items():
            console.print(f"  {key} = {value!r}")
        importances = found.importances()
        if importances:
            console.print(Text("\nParameter importances", style="bold"))
            width = 30
            for key, share in importances.items():
                bar = "█" * max(1, round(share * width)) if share > 0 else ""
                console.print(f"  {key:<20} {share:6.3f} {bar}")
        console.print(Text(f"\nTop {_TOP} trials", style="bold"))
        console.print(_trials_table(found, _ranked(found)[:_TOP]))
    failed = [t for t in found.trials if t.state == "failed"]
    if failed:
        first = failed[0]
        console.print(
            Text(f"\n{len(failed)} failed; trial #{first.number} failed with:", style="red")
        )
        console.print(Text(first.error.strip()[-1500:]))
    if _has_report(found):
        console.print(f"\nplots and report: {_report_hint(found)}")
    else:
        console.print(f"\nno report drawn yet: mlpilot tune report {found.id[:8]}")


@app.command("report")
def report(
    ctx: typer.Context,
    study: StudyArgument,
    redraw: Annotated[
        bool, typer.Option("--redraw", help="Draw it again even if the study has one.")
    ] = False,
) -> None:
    """Draw a study's plots, importances and HTML page and store them with its run."""
    found = Study.load(study, client=state(ctx).client())
    if found.status == "running":
        raise InvalidInputError(
            f"study {found.name!r} is still running; its report is drawn once it has ended"
        )
    if redraw or not _has_report(found):
        with _output.stderr().status("drawing the report"):
            write_report(found)
    _output.stdout().print(f"stored with the study: {_report_hint(found)}")


# -- helpers -----------------------------------------------------------------------------


def _has_report(study: Study) -> bool:
    return "report.html" in {a.path for a in study.client.list_artifacts(study.id)}


def _report_hint(study: Study) -> str:
    return f"mlpilot artifacts get {study.id[:8]} report.html (and plots/*.png)"


class _LiveTrials:
    """A progress bar over the study's trials, with the best value so far."""

    def __init__(
        self,
        total: int | None,
        directions: list[str],
        *,
        quiet: bool,
        done: list[TrialRecord] | None = None,
    ) -> None:
        self.maximize = directions[0] == "maximize"
        self.single = len(directions) == 1
        self.best: float | None = None
        self.states: dict[str, int] = {}
        finished = [t for t in done or [] if t.state in ("complete", "pruned", "failed")]
        for trial in finished:
            self._count(trial.state, trial.values)
        self.progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            console=_output.stderr(),
            disable=quiet,
            transient=False,
        )
        self.task = self.progress.add_task(
            "trials", total=total, completed=len(finished), summary=self._summary()
        )

    def __enter__(self) -> _LiveTrials:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, number: int, state: str, values: list[float] | None) -> None:
        # Drawn from the first trial on, so that a study refused up front prints only
        # its error.
        self.progress.start()
        if state == "running":
            return
        self._count(state, values)
        self.progress.update(self.task, advance=1, summary=self._summary())

    def _count(self, state: str, values: list[float] | None) -> None:
        self.states[state] = self.states.get(state, 0) + 1
        if state == "complete" and values and self.single and math.isfinite(values[0]):
            value = values[0]
            if self.best is None or (value > self.best) == self.maximize:
                self.best = value

    def _summary(self) -> str:
        best = "" if self.best is None else f"best {_output.number(self.best)}  "
        return best + _counts(self.states)


def _summary(study: Study, as_json: bool) -> None:
    if as_json:
        _output.print_json(study.to_dict())
    else:
        console = _output.stderr()
        console.print(
            Text.assemble(
                f"study {study.name} ({study.id}) ",
                _output.status(study.status),
                f"  {_counts(study.counts())}  best {_best(study)}",
            )
        )
        console.print(f"see it with: mlpilot tune show {study.id[:8]}")
    if study.status != "finished":
        raise typer.Exit(1)


def _counts(counts: dict[str, int]) -> str:
    order = ("complete", "pruned", "failed", "killed", "running")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s)) or "no trials"


def _best(study: Study) -> str:
    if not study.complete:
        return _output.DASH
    if len(study.directions) > 1:
        return f"{len(study.pareto_front)} on the front"
    return _output.number(study.best_value)


def _ranked(study: Study) -> list[TrialRecord]:
    sign = -1 if study.directions[0] == "maximize" else 1
    return sorted(study.complete, key=lambda t: sign * (t.values or [0.0])[0])


def _trials_table(study: Study, trials: list[TrialRecord]) -> Table:
    names = list(study.record.space)
    table = Table(box=None, header_style="bold")
    for column in ("#", *study.record.metrics, *names, "took"):
        table.add_column(column)
    for t in trials:
        table.add_row(
            str(t.number),
            *(_output.number(v) for v in t.values or []),
            *(_param(t.params.get(n)) for n in names),
            _output.duration(None if t.end_ms is None else t.end_ms - t.start_ms),
        )
    return table


def _param(value: Any) -> str:
    if value is None:
        return _output.DASH
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
