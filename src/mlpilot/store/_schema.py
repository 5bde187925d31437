"""The metadata tables (SQLAlchemy Core).

This module describes the newest schema; ``migrations/`` holds the steps that bring an
older database to it, and a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# A 64-bit key that is still SQLite's rowid alias (BIGINT PRIMARY KEY would not autoincrement).
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Longest name a user may give a key, tag, param, experiment or run.
MAX_KEY_LENGTH = 250
#: Longest artifact path inside a run.
MAX_PATH_LENGTH = 1000

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.id", ondelete="CASCADE")


experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_KEY_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(MAX_KEY_LENGTH), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parent_id", String(32), _run_fk(), nullable=True),
    Column("user", String(MAX_KEY_LENGTH), nullable=False),
    Column("host", String(MAX_KEY_LENGTH), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("heartbeat_ms", BigInteger, nullable=False),
    Index(None, "experiment_id", "start_ms"),
    Index(None, "status"),
    Index(None, "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(MAX_KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(MAX_KEY_LENGTH), primary_key=True),
    Column("value", Text, nullable=False),
)

# Logged points, stored as one chunk per (run, key) per flush: three packed little-endian
# arrays (int64 steps, int64 timestamps, float64 values). A row per point would cap
# logging at the database's row-insert rate; a chunk costs one row for a whole batch.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), _run_fk(), nullable=False),
    Column("key", String(MAX_KEY_LENGTH), nullable=False),
    Column("first_step", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Index(None, "run_id", "key", "first_step"),
)

# The point with the highest step of each (run, key): what search, sort and tables read.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("key", String(MAX_KEY_LENGTH), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("value", Float(53), nullable=False),
    Index(None, "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("path", String(MAX_PATH_LENGTH), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "digest"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(MAX_KEY_LENGTH), nullable=False),
    Column("actor", String(MAX_KEY_LENGTH), nullable=False),
    Column("payload", JSON, nullable=False),
    Index(None, "ts_ms"),
    Index(None, "object_type", "object_id"),
)

# A lease on a role only one process may play at a time (the controller that runs the
# monitors): its holder keeps it by renewing it before it expires; another takes it over
# once it has.
leases = Table(
    "leases",
    metadata,
    Column("name", String(MAX_KEY_LENGTH), primary_key=True),
    Column("holder", String(MAX_KEY_LENGTH), nullable=False),
    Column("acquired_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# A pipeline the controller starts on its own: on a cron schedule, or when a dataset
# gets a new version (or a tag moves). ``last_key`` is what it last fired for (a slot's
# time, a version); ``claim_*`` marks a firing under way, so that of two controllers
# one fires, and a firing its controller died in is taken up again.
triggers = Table(
    "triggers",
    metadata,
    Column("name", String(MAX_KEY_LENGTH), primary_key=True),
    Column("pipeline", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(MAX_KEY_LENGTH), nullable=False),
    Column("last_key", Text, nullable=True),
    Column("last_fired_ms", BigInteger, nullable=True),
    Column("claim_key", Text, nullable=True),
    Column("claim_ms", BigInteger, nullable=True),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_KEY_LENGTH), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
)

# One row per distinct content of a dataset. ``digest`` names the content (schema and
# values, whatever the file layout); ``blob_digest`` names the Parquet file that holds it.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("blob_digest", String(64), nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_bytes", BigInteger, nullable=False),
    Column("columns", JSON, nullable=False),
    Column("profile", JSON, nullable=False),
    Column("parent_id", String(32), ForeignKey("dataset_versions.id", ondelete="SET NULL")),
    Column("source", Text, nullable=False, default=""),
    Column("created_by", String(MAX_KEY_LENGTH), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    UniqueConstraint("dataset_id", "digest"),
    Index(None, "blob_digest"),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(MAX_KEY_LENGTH), primary_key=True),
    Column(
        "version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_ms", BigInteger, nullable=False),
)

# Lineage: which runs (and which pipeline step in them) read or wrote which versions.
dataset_usage = Table(
    "dataset_usage",
    metadata,
    Column(
        "version_id",
        String(32),
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("role", String(8), primary_key=True),
    Column("step", String(MAX_KEY_LENGTH), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "run_id"),
)

# Pipelines: a pipeline run is a run; its tasks and their attempts hang off it.
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("pipeline", String(MAX_KEY_LENGTH), nullable=False),
    Column("source", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("policy", String(32), nullable=False),
    Column("executor", String(32), nullable=False),
    Column("deadline_ms", BigInteger, nullable=True),
    Column("cancel_requested", Integer, nullable=False, default=0),
    Index(None, "pipeline"),
)

task_runs = Table(
    "task_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", String(32), _run_fk(), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(MAX_KEY_LENGTH), nullable=False),
    Column("step", String(MAX_KEY_LENGTH), nullable=False),
    Column("status", String(16), nullable=False),
    Column("upstream", JSON, nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("output_digest", String(64), nullable=True),
    Column("output_size", BigInteger, nullable=True),
    Column("cached_from", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("start_ms", BigInteger, nullable=True),
    Column("end_ms", BigInteger, nullable=True),
    Column("error", Text, nullable=False, default=""),
    UniqueConstraint("run_id", "name"),
    Index(None, "cache_key", "status"),
    Index(None, "step", "status"),
)

task_attempts = Table(
    "task_attempts",
    metadata,
    Column("task_id", String(32), ForeignKey("task_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("node", String(MAX_KEY_LENGTH), nullable=False, default=""),
    Column("cpus", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("cpu_seconds", Float(53), nullable=True),
    Column("peak_rss_mb", Float(53), nullable=True),
    Column("error", Text, nullable=False, default=""),
)

# A study is a run (the trials are its child runs) with what it was started with, so
# that it can be resumed from the store alone.
studies = Table(
    "studies",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column("name", String(MAX_KEY_LENGTH), nullable=False),
    Column("objective", Text, nullable=False),
    Column("space", JSON, nullable=False),
    Column("directions", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("sampler", JSON, nullable=False),
    Column("pruner", JSON, nullable=False),
    Column("budget", JSON, nullable=False),
    Column("trial_resources", JSON, nullable=False),
    Column("executor", String(32), nullable=False),
    # Wall-clock seconds the study ran before its latest start, for its time budget.
    Column("spent_s", Float(53), nullable=False, default=0.0),
    # Keyword arguments every trial's objective gets besides the trial.
    Column("objective_kwargs", JSON, nullable=True),
    Index(None, "name"),
)

trials = Table(
    "trials",
    metadata,
    Column("run_id", String(32), _run_fk(), primary_key=True),
    Column(
        "study_id", String(32), ForeignKey("studies.run_id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("values", JSON, nullable=True),
    Column("cpus", Integer, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("error", Text, nullable=False, default=""),
    UniqueConstraint("study_id", "number"),
    Index(None, "study_id", "state"),
)

# What running trials report, read by pruners in whichever process runs a trial. A
# report that completes a rung of successive halving carries the rung's number.
trial_reports = Table(
    "trial_reports",
    metadata,
    Column(
        "trial_id", String(32), ForeignKey("trials.run_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("step", BigInteger, primary_key=True),
    Column("study_id", String(32), nullable=False),
    Column("value", Float(53), nullable=False),
    Column("rung", Integer, nullable=True),
    Index(None, "study_id", "step"),
    Index(None, "study_id", "rung"),
)

# A registered model: its versions, the aliases that point at them, and every move of
# an alias with the decision behind it.
registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(MAX_KEY_LENGTH), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    # How its versions are scored and the gate they pass to be promoted.
    Column("scoring", JSON, nullable=False),
    Column("gate", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "model",
        String(MAX_KEY_LENGTH),
        ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="RESTRICT"), nullable=False),
    Column("artifact", String(MAX_PATH_LENGTH), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("dataset", String(MAX_KEY_LENGTH), nullable=True),
    Column("evaluation", JSON, nullable=True),
    Column("signature", JSON, nullable=True),
    Column("environment", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(MAX_KEY_LENGTH), nullable=False),
    Index(None, "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model", String(MAX_KEY_LENGTH), primary_key=True),
    Column("alias", String(MAX_KEY_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    ForeignKeyConstraint(
        ["model", "version"],
        ["model_versions.model", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

alias_moves = Table(
    "alias_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model", String(MAX_KEY_LENGTH), nullable=False),
    Column("alias", String(MAX_KEY_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("previous", Integer, nullable=True),
    # promote, rollback or set
    Column("kind", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("actor", String(MAX_KEY_LENGTH), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("decision", JSON, nullable=True),
    Index(None, "model", "alias", "id"),
)

# Served predictions, one row per predicted row of a sampled request, as the inference
# server logs them; monitoring reads them back by model and time.
predictions = Table(
    "predictions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    # The row's index within its request.
    Column("row", Integer, nullable=False),
    Column("model", String(MAX_KEY_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    # primary, canary or shadow
    Column("role", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("latency_ms", Float(53), nullable=False),
    # The row's inputs as a {column: value} object.
    Column("features", JSON, nullable=False),
    Column("prediction", JSON, nullable=False),
    # Class probabilities, where the model gives them.
    Column("scores", JSON, nullable=True),
    Index(None, "model", "ts_ms"),
    Index(None, "request_id", "row"),
)

# Ground truth that arrives after the prediction, matched to it by (request_id, row).
prediction_labels = Table(
    "prediction_labels",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("label", JSON, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
)

# A monitor of a served model: what it compares the model's traffic with, how it cuts
# the traffic into windows, and the rules that raise alerts. The reference profile is
# computed once and kept as an artifact blob.
monitors = Table(
    "monitors",
    metadata,
    Column("name", String(MAX_KEY_LENGTH), primary_key=True),
    Column("model", String(MAX_KEY_LENGTH), nullable=False),
    Column("reference", String(MAX_KEY_LENGTH), nullable=False),
    Column("target", String(MAX_KEY_LENGTH), nullable=True),
    Column("task", String(16), nullable=False),
    # The settings of the drift tests, windows and rules, as the monitor was created.
    Column("spec", JSON, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("profile_digest", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(MAX_KEY_LENGTH), nullable=False),
    Index(None, "model"),
)

# One evaluated window of a monitor's traffic. ``from_*`` is where its reading began and
# ``next_*`` where the next window's begins: a time, and how many rows logged at that
# very time were already read.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column(
        "monitor",
        String(MAX_KEY_LENGTH),
        ForeignKey("monitors.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("window_index", Integer, primary_key=True),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("from_ms", BigInteger, nullable=True),
    Column("from_skip", Integer, nullable=False),
    Column("next_ms", BigInteger, nullable=False),
    Column("next_skip", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("evaluable", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("drifted_columns", JSON, nullable=False),
    Column("results", JSON, nullable=False),
    Column("performance", JSON, nullable=False),
    Column("latency", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "monitor",
        String(MAX_KEY_LENGTH),
        ForeignKey("monitors.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("rule", String(MAX_KEY_LENGTH), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("window_index", Integer, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("values", JSON, nullable=False),
    # open or acknowledged
    Column("state", String(16), nullable=False),
    # One outcome per action of the rule, updated as actions finish.
    Column("actions", JSON, nullable=False),
    Column("acked_by", String(MAX_KEY_LENGTH), nullable=True),
    Column("acked_ms", BigInteger, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Index(None, "monitor", "rule", "window_end_ms"),
    Index(None, "state"),
)

# Retraining pipelines that alerts started, so that a model never retrains twice at once.
monitor_retrains = Table(
    "monitor_retrains",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model", String(MAX_KEY_LENGTH), nullable=False),
    Column("alert_id", BigInteger, nullable=False),
    Column("pipeline", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("host", String(MAX_KEY_LENGTH), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("log_path", Text, nullable=False),
    # running, finished or failed
    Column("status", String(16), nullable=False),
    Column("champion_before", Integer, nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger, nullable=True),
    Column("outcome", Text, nullable=False, default=""),
    Index(None, "model", "status"),
)

#: Columns that hold artifact digests. Garbage collection keeps every blob named here;
#: a package that stores digests in a new table adds its column to this list.
DIGEST_COLUMNS: list[Column[str]] = [
    run_artifacts.c.digest,
    dataset_versions.c.blob_digest,
    task_runs.c.output_digest,
    model_versions.c.digest,
    monitors.c.profile_digest,
]

# The users of a team server and their API tokens. A token's secret is never stored:
# ``digest`` is its SHA-256, looked up by the token's id, which the secret carries.
users = Table(
    "users",
    metadata,
    Column("name", String(MAX_KEY_LENGTH), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(MAX_KEY_LENGTH), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user", String(MAX_KEY_LENGTH), nullable=False, index=True),
    Column("digest", String(64), nullable=False),
    Column("label", String(MAX_KEY_LENGTH), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)
