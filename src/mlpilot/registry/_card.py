"""Model cards, written from the registry's record: what the version is, what it was
trained on, how well it does (with intervals), its parameters and where it came from."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from mlpilot.errors import InvalidInputError
from mlpilot.registry._registry import ModelRegistry, VersionRecord
from mlpilot.tracking import TrackingClient


def model_card(uri: str, *, fmt: str = "markdown", client: TrackingClient | None = None) -> str:
    """The card of the version ``uri`` names, as ``markdown`` or ``html``.

    Args:
        client: The client whose store holds the model (by default one opened from the
            environment's settings).
    """
    if fmt not in ("markdown", "html"):
        raise InvalidInputError(f"a model card is written as markdown or html, not {fmt!r}")
    registry = ModelRegistry(client)
    version = registry.resolve(uri)
    model = registry.get_model(version.model)
    run = registry.client.get_run(version.run_id)
    lines = [
        f"# {version.model} version {version.version}",
        "",
        f"- Aliases: {', '.join(version.aliases) or 'none'}",
        f"- Registered: {_when(version.created_ms)} by {version.created_by}",
        f"- Model: `{version.environment.get('model_class')}` ({version.flavor}), "
        f"sha256 `{version.digest[:16]}…`",
        f"- Trained on: {version.dataset or 'not recorded'}",
        f"- Run: `{version.run_id}` ({run.name}, experiment {run.experiment})",
        "",
        "## Evaluation",
        "",
    ]
    lines += _evaluation(version)
    lines += ["", "## Promotion gate", ""]
    lines += [f"- {k}: {v}" for k, v in model.gate.to_dict().items()]
    moves = [m for m in registry.moves(version.model) if m.version == version.version]
    for move in moves:
        lines.append(
            f"- {_when(move.ts_ms)}: {move.kind} to `{move.alias}` by {move.actor}"
            + (f" — {move.reason}" if move.reason else "")
        )
    lines += ["", "## Parameters", ""]
    params = run.params
    lines += [f"| {k} | {v} |" for k, v in sorted(params.items())] or ["none recorded"]
    if params:
        lines[-len(params) :] = ["| parameter | value |", "|---|---|", *lines[-len(params) :]]
    env = version.environment
    lines += [
        "",
        "## Environment",
        "",
        f"- Python {env.get('python')}",
        *(f"- {p} {v}" for p, v in env.get("packages", {}).items() if v),
    ]
    if env.get("code_digest"):
        lines.append(f"- code digest `{env['code_digest']}`")
    if env.get("seeds"):
        lines.append(f"- seeds: {env['seeds']}")
    markdown = "\n".join(lines) + "\n"
    return markdown if fmt == "markdown" else _html(markdown, version)


def _evaluation(version: VersionRecord) -> list[str]:
    evaluation = version.evaluation
    if evaluation is None:
        return ["Not evaluated at registration."]
    weights = " + ".join(f"{w:g}·{m}" for m, w in evaluation.scoring.weights.items())
    out = [
        f"On {evaluation.data or 'the evaluation data'}: {evaluation.rows:,} rows, "
        f"{evaluation.confidence:.0%} intervals from {evaluation.resamples:,} bootstrap "
        "resamples.",
        "",
        "| metric | value | interval |",
        "|---|---|---|",
        f"| **composite** ({weights}) | **{evaluation.composite.value:.4f}** | "
        f"{evaluation.composite.low:.4f} – {evaluation.composite.high:.4f} |",
    ]
    out += [
        f"| {name} | {e.value:.4f} | {e.low:.4f} – {e.high:.4f} |"
        for name, e in evaluation.metrics.items()
    ]
    return out


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _html(markdown: str, version: VersionRecord) -> str:
    """The Markdown card as a standalone page: headings, lists and tables."""
    body: list[str] = []
    table: list[list[str]] = []
    items: list[str] = []

    def flush() -> None:
        if table:
            head, *rows = table
            body.append(
                "<table><tr>"
                + "".join(f"<th>{_inline(c)}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                + "</table>"
            )
            table.clear()
        if items:
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    flush()
    return (
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(version.model)} v{version.version}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:"
        "collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}</style>"
        + "\n".join(body)
    )


def _inline(text: str) -> str:
    out: Any = html.escape(text)
    for marker, tag in (("**", "strong"), ("`", "code")):
        parts = out.split(marker)
        out = "".join(p if i % 2 == 0 else f"<{tag}>{p}</{tag}>" for i, p in enumerate(parts))
    return str(out)
