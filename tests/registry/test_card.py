"""Model cards: what a version is, what it was trained on, how well it does with its
intervals, its parameters and its history, as Markdown or as an HTML page."""

from __future__ import annotations

import pytest

from mlpilot.errors import InvalidInputError, NotFoundError
from mlpilot.evaluate import Scoring, evaluate
from mlpilot.registry import ModelRegistry, VersionRecord, model_card, promote
from mlpilot.tracking import TrackingClient

from . import fitted, log, split

SCORING = Scoring(weights={"accuracy": 0.3, "precision": 0.3, "recall": 0.4})


@pytest.fixture
def registry(client: TrackingClient) -> ModelRegistry:
    return ModelRegistry(client)


@pytest.fixture
def version(client: TrackingClient, registry: ModelRegistry) -> VersionRecord:
    """Version 1 of ``cancer``, trained on a registered dataset, evaluated, champion."""
    X_train, X_test, y_train, y_test = split()
    data = client.datasets.register("cancer-train", X_train.assign(target=y_train))
    evaluation = evaluate(
        fitted("lr10"), X_test, y_test, scoring=SCORING, resamples=200, data="rows <2020"
    )
    registry.create_model("cancer", scoring=SCORING)
    run_id = log(client, "lr10", C=10, penalty="l2")
    registry.register(
        "cancer", run_id, dataset=data.ref, evaluation=evaluation, code_digest="abc123"
    )
    promote("cancer", 1, X_test, y_test, resamples=50, client=client)
    return registry.get_version("cancer", 1)


def test_markdown_card(registry: ModelRegistry, version: VersionRecord) -> None:
    evaluation = version.evaluation
    assert evaluation is not None

    card = model_card("models:/cancer@champion", client=registry.client)

    assert card.startswith("# cancer version 1\n")
    composite = evaluation.composite
    assert (
        f"| **composite** (0.3·accuracy + 0.3·precision + 0.4·recall) | **{composite.value:.4f}** "
        f"| {composite.low:.4f} – {composite.high:.4f} |"
    ) in card
    recall = evaluation.metrics["recall"]
    assert f"| recall | {recall.value:.4f} | {recall.low:.4f} – {recall.high:.4f} |" in card
    assert "On rows <2020: 228 rows, 95% intervals from 200 bootstrap resamples." in card
    assert "- Trained on: cancer-train@v1" in card
    assert f"- Run: `{version.run_id}` (lr10, experiment registry)" in card
    assert "- Aliases: champion" in card
    assert "| parameter | value |\n|---|---|\n| C | 10 |\n| penalty | l2 |" in card
    assert "promote to `champion` by tester — passed the gate" in card
    assert "`sklearn.pipeline.Pipeline` (sklearn/skops)" in card
    assert f"sha256 `{version.digest[:16]}…`" in card
    assert "- code digest `abc123`" in card


def test_html_card_is_a_page_with_tables(registry: ModelRegistry, version: VersionRecord) -> None:
    page = model_card("cancer/1", fmt="html", client=registry.client)

    assert page.startswith("<!doctype html>")
    assert "<title>cancer v1</title>" in page
    assert "<h1>cancer version 1</h1>" in page
    assert page.count("<table>") == 2  # the evaluation and the parameters
    assert "<tr><th>metric</th><th>value</th><th>interval</th></tr>" in page
    assert "<tr><td>C</td><td>10</td></tr>" in page
    assert "<td><strong>composite</strong> (0.3·accuracy" in page
    assert "On rows &lt;2020: 228 rows" in page  # the data's description is escaped
    assert "rows <2020" not in page
    assert f"<code>{version.run_id}</code>" in page
    assert "|---|" not in page


def test_card_of_a_version_registered_with_nothing_else(
    client: TrackingClient, registry: ModelRegistry
) -> None:
    registry.create_model("bare")
    with client.create_run("registry", name="bare") as run:
        client.log_model(run.id, fitted("dummy"))
    registry.register("bare", run.id)

    card = model_card("bare/1", client=registry.client)

    assert "- Trained on: not recorded" in card
    assert "Not evaluated at registration." in card
    assert "## Parameters\n\nnone recorded" in card
    assert "- Aliases: none" in card
    assert "<p>Not evaluated at registration.</p>" in model_card(
        "bare/1", fmt="html", client=registry.client
    )


def test_card_of_an_unknown_version(registry: ModelRegistry) -> None:
    registry.create_model("bare")

    with pytest.raises(NotFoundError):
        model_card("bare@champion", client=registry.client)


def test_card_in_a_format_it_does_not_write(
    registry: ModelRegistry, version: VersionRecord
) -> None:
    with pytest.raises(InvalidInputError, match="pdf"):
        model_card("cancer/1", fmt="pdf", client=registry.client)
