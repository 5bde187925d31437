"""``mlpilot serve``: the inference server for registered models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mlpilot.cli._state import state
from mlpilot.errors import ConfigError
from mlpilot.serve import ServeConfig, Server, model_configs, run

_err = Console(stderr=True)


def serve_command(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME@ALIAS...",
            help="Models to serve: an alias to follow (churn@champion) or a version (churn/3).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML file: [server] and one [[models]] per model."),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port (8080).")] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option("--grpc-port", help="Also serve the Open Inference Protocol over gRPC here."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes shared by the models (cores)."),
    ] = None,
    max_batch: Annotated[
        int | None, typer.Option("--max-batch", min=1, help="Most rows per predict call (64).")
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option("--max-wait-ms", min=0, help="Most a request waits for a batch to fill (2)."),
    ] = None,
    no_batching: Annotated[
        bool, typer.Option("--no-batching", help="Predict every request on its own.")
    ] = False,
    latency_target_ms: Annotated[
        float | None,
        typer.Option("--latency-target-ms", help="The p95 latency each model aims for (50)."),
    ] = None,
    challenger: Annotated[
        str | None,
        typer.Option("--challenger", help="A challenger for the (single) model: NAME@ALIAS."),
    ] = None,
    split: Annotated[
        float | None, typer.Option("--split", help="Share of requests for the challenger (0.1).")
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option("--shadow", help="Copy requests to the challenger; never answer from it."),
    ] = False,
    log_sample: Annotated[
        float | None,
        typer.Option("--log-sample", help="Share of requests in the prediction log (0.1)."),
    ] = None,
) -> None:
    """Serve registered models over HTTP, following their aliases as they move.

    mlpilot serve churn@champion --port 8080

    Endpoints: POST /models/NAME/predict ({"records": [...]}), the Open Inference
    Protocol (/v2/health/ready, /v2/models/NAME, /v2/models/NAME/infer; over gRPC too
    with --grpc-port), KServe v1 (/v1/models/NAME:predict), GET /models and Prometheus
    /metrics.
    """
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "grpc_port": grpc_port,
        "workers": workers,
        "log_sample": log_sample,
    }
    options = {
        "max_batch": 1 if no_batching else max_batch,
        "max_wait_ms": 0.0 if no_batching else max_wait_ms,
        "latency_target_ms": latency_target_ms,
        "challenger": challenger,
        "split": split,
        "mode": "shadow" if shadow else None,
    }
    if config is not None:
        if models:
            raise ConfigError("name the models either on the command line or in --config")
        if any(v is not None for v in options.values()) or no_batching or shadow:
            raise ConfigError("with --config, set the models' options in the file")
        serve_config = ServeConfig.from_toml(config, **settings)
    else:
        if not models:
            raise ConfigError("name a model to serve (mlpilot serve churn@champion) or --config")
        if challenger is not None and len(models) != 1:
            raise ConfigError("--challenger applies to a single model; use --config for more")
        serve_config = ServeConfig(
            models=model_configs(models, **options),
            **{k: v for k, v in settings.items() if v is not None},
        )
    client = state(ctx).client()

    def ready(server: Server) -> None:
        names = ", ".join(
            f"{d.name} version {d.primary.version}" for d in server.deployments.values()
        )
        _err.print(
            f"Serving {names} on http://{serve_config.host}:{serve_config.port} (Ctrl-C to stop)",
            highlight=False,
        )

    run(serve_config, client, on_ready=ready)
