"""The results store: SQLAlchemy 2 models, SQLite by default, any SQLAlchemy URL allowed.

Every trial is a row of ``trials`` (units in the column names) with its per-epoch curve in
``epochs``; ``meta`` holds the schema version. SQLite files are opened in WAL mode with a busy
timeout, and write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue
instead of failing with "database is locked". Tables are only ever created, never dropped: nothing
stored is lost.
"""
from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import (JSON, BigInteger, Float, ForeignKey, Integer, String, Text, create_engine, event,
                        select, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from .errors import ConfigError

__all__ = ["SCHEMA_VERSION", "Base", "Trial", "Epoch", "Meta", "Store", "resolve_url", "RESULT_KEYS",
           "DEFAULT_DB"]

#: bump with a migration in ``_MIGRATIONS`` whenever the tables change
SCHEMA_VERSION = 1
DEFAULT_DB = "gnnbench.db"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Trial(Base):
    """One trial: (method, backbone, dataset, seed, config) and everything measured."""

    __tablename__ = "trials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    sweep_id: Mapped[str | None] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(128), index=True)
    backbone: Mapped[str] = mapped_column(String(128), index=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    metric: Mapped[str | None] = mapped_column(String(32))
    val_metric: Mapped[float | None] = mapped_column(Float)
    test_metric: Mapped[float | None] = mapped_column(Float)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    epoch_time_s: Mapped[float | None] = mapped_column(Float)
    sample_time_s: Mapped[float | None] = mapped_column(Float)
    compute_time_s: Mapped[float | None] = mapped_column(Float)
    inference_time_s: Mapped[float | None] = mapped_column(Float)
    preprocess_time_s: Mapped[float | None] = mapped_column(Float)
    load_time_s: Mapped[float | None] = mapped_column(Float)
    peak_cpu_rss_bytes: Mapped[int | None] = mapped_column(BigInteger)
    peak_gpu_allocated_bytes: Mapped[int | None] = mapped_column(BigInteger)
    peak_gpu_nvml_bytes: Mapped[int | None] = mapped_column(BigInteger)
    num_parameters: Mapped[int | None] = mapped_column(BigInteger)
    num_batches: Mapped[int | None] = mapped_column(Integer)
    nodes_per_batch_mean: Mapped[float | None] = mapped_column(Float)
    nodes_per_batch_max: Mapped[int | None] = mapped_column(BigInteger)
    messages_per_batch_mean: Mapped[float | None] = mapped_column(Float)
    messages_per_batch_max: Mapped[int | None] = mapped_column(BigInteger)
    device: Mapped[str | None] = mapped_column(String(32))
    config: Mapped[dict] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(16), index=True)
    environment: Mapped[dict | None] = mapped_column(JSON)
    extra: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[str | None] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    runner_host: Mapped[str | None] = mapped_column(String(255))
    runner_pid: Mapped[int | None] = mapped_column(Integer)
    curve: Mapped[list["Epoch"]] = relationship(back_populates="trial", cascade="all, delete-orphan",
                                                order_by="Epoch.epoch")


class Epoch(Base):
    """One point of a trial's convergence curve."""

    __tablename__ = "epochs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    train_time_s: Mapped[float] = mapped_column(Float)  # cumulative training time at the epoch's end
    epoch_time_s: Mapped[float | None] = mapped_column(Float)
    sample_time_s: Mapped[float | None] = mapped_column(Float)
    compute_time_s: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)
    val_metric: Mapped[float | None] = mapped_column(Float)
    trial: Mapped[Trial] = relationship(back_populates="curve")


#: the keys of ``gnnbench results --format json``, in order
RESULT_KEYS = ["run_id", "method", "backbone", "dataset", "seed", "status", "metric", "val_metric",
               "test_metric", "best_epoch", "epochs", "train_time_s", "epoch_time_s", "sample_time_s",
               "compute_time_s", "inference_time_s", "preprocess_time_s", "load_time_s",
               "peak_cpu_rss_bytes", "peak_gpu_allocated_bytes", "peak_gpu_nvml_bytes", "num_parameters",
               "num_batches", "nodes_per_batch_mean", "nodes_per_batch_max", "messages_per_batch_mean",
               "messages_per_batch_max", "device", "config", "config_hash", "environment", "extra",
               "sweep_id", "started_at", "finished_at", "error"]

_MIGRATIONS: dict[int, Any] = {}  # from-version → callable(connection); none yet


def resolve_url(db: str | None) -> str:
    """An SQLAlchemy URL from ``--db`` / ``GNNBENCH_DB``: a URL as given, a bare path as SQLite.

    Raises:
        ConfigError: the value is not a valid URL.
    """
    value = db or os.environ.get("GNNBENCH_DB") or DEFAULT_DB
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser()}"
    try:
        make_url(value)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"--db '{value}' is not a valid SQLAlchemy URL ({exc}); "
                          f"use a file path or e.g. postgresql://user@host/db") from exc
    return value


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _running_row(run_id: str, config, config_hash: str, sweep_id: str | None) -> Trial:
    """The ``running`` row of a trial about to start in this process."""
    return Trial(run_id=run_id, sweep_id=sweep_id, method=config.method, backbone=config.backbone,
                 dataset=config.dataset, seed=config.seed, status="running",
                 config=config.model_dump(mode="json"), config_hash=config_hash,
                 started_at=datetime.now(timezone.utc).isoformat(),
                 runner_host=socket.gethostname(), runner_pid=os.getpid())


class Store:
    """The results store at ``url`` (see :func:`resolve_url`), created and versioned on open.

    Raises:
        ConfigError: the database cannot be opened, or was written by a newer gnnbench.
    """

    def __init__(self, url: str):
        self.url = url
        is_sqlite = url.startswith("sqlite")
        if is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                parent = Path(path).expanduser().resolve().parent
                if not parent.is_dir():
                    raise ConfigError(f"cannot create the results database '{path}': folder '{parent}' "
                                      f"does not exist; create it or pass another --db")
        try:
            self.engine = create_engine(url, connect_args={"timeout": 60} if is_sqlite else {})
            if is_sqlite:
                _sqlite_pragmas(self.engine)
            Base.metadata.create_all(self.engine)
            self._check_version()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one message
            raise ConfigError(f"cannot open the results database '{url}': {type(exc).__name__}: {exc}") from exc

    def _check_version(self) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(Meta, "schema_version")
            if row is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            found = int(row.value)
            if found > SCHEMA_VERSION:
                raise ConfigError(f"the results database '{self.url}' has schema version {found}, newer than "
                                  f"this gnnbench's {SCHEMA_VERSION}; upgrade gnnbench")
            while found < SCHEMA_VERSION:
                _MIGRATIONS[found](s.connection())
                found += 1
            row.value = str(found)

    # -- writing -----------------------------------------------------------------------------
    def start_trial(self, config, config_hash: str, sweep_id: str | None = None) -> str:
        """Insert a ``running`` row for a trial about to start; returns its ``run_id``."""
        run_id = uuid.uuid4().hex
        with Session(self.engine) as s, s.begin():
            s.add(_running_row(run_id, config, config_hash, sweep_id))
        return run_id

    def finish_trial(self, run_id: str, record: dict[str, Any]) -> None:
        """Write a finished trial's record (and curve) into its row, in one transaction."""
        columns = set(Trial.__table__.columns.keys()) - {"id", "run_id", "sweep_id", "method", "backbone",
                                                         "dataset", "seed", "runner_host", "runner_pid"}
        with Session(self.engine) as s, s.begin():
            trial = s.scalars(select(Trial).where(Trial.run_id == run_id)).one()
            for key, value in record.items():
                if key in columns and value is not None:
                    setattr(trial, key, value)
            trial.status = record["status"]
            trial.curve = [Epoch(**{k: p.get(k) for k in ("epoch", "train_time_s", "epoch_time_s",
                                                          "sample_time_s", "compute_time_s", "loss",
                                                          "val_metric")})
                           for p in record.get("curve") or []]

    def claim_trial(self, config, config_hash: str, is_live: Callable[[str | None, int | None, str | None], bool],
                    sweep_id: str | None = None) -> str | None:
        """Insert a ``running`` row unless ``(config_hash, config.seed)`` is taken; its ``run_id`` or ``None``.

        Taken means: a ``completed`` row exists, or a ``running`` row whose runner
        ``is_live(runner_host, runner_pid, started_at)``.  The check and the insert are one
        transaction (``BEGIN IMMEDIATE`` on SQLite), so two sweeps sharing a database never both
        complete the same pair.
        """
        run_id = uuid.uuid4().hex
        with Session(self.engine) as s, s.begin():
            rows = s.execute(select(Trial.status, Trial.runner_host, Trial.runner_pid, Trial.started_at).where(
                Trial.config_hash == config_hash, Trial.seed == config.seed,
                Trial.status.in_(["completed", "running"]))).all()
            for status, host, pid, started in rows:
                if status == "completed" or is_live(host, pid, started):
                    return None
            s.add(_running_row(run_id, config, config_hash, sweep_id))
        return run_id

    def interrupt_dead(self, is_live: Callable[[str | None, int | None, str | None], bool]) -> list[str]:
        """Mark ``running`` rows whose runner is not ``is_live(host, pid, started_at)`` as ``interrupted``.

        Returns the ``run_id`` of each row changed (a sweep calls this when it resumes).
        """
        with Session(self.engine) as s, s.begin():
            rows = s.execute(select(Trial.run_id, Trial.runner_host, Trial.runner_pid, Trial.started_at)
                             .where(Trial.status == "running")).all()
            dead = [r.run_id for r in rows if not is_live(r.runner_host, r.runner_pid, r.started_at)]
            now = datetime.now(timezone.utc).isoformat()
            for r in rows:
                if r.run_id in dead:
                    s.execute(update(Trial).where(Trial.run_id == r.run_id, Trial.status == "running").values(
                        status="interrupted", finished_at=now,
                        error=f"the process that ran this trial (pid {r.runner_pid} on {r.runner_host}) "
                              f"ended while the trial was running; found on resume"))
        return dead

    def completed_pairs(self) -> set[tuple[str, int]]:
        """The ``(config_hash, seed)`` pairs that have a ``completed`` row."""
        with Session(self.engine) as s:
            return {(h, seed) for h, seed in s.execute(
                select(Trial.config_hash, Trial.seed).where(Trial.status == "completed"))}

    # -- reading -----------------------------------------------------------------------------
    def trials(self, *, method: Iterable[str] = (), backbone: Iterable[str] = (), dataset: Iterable[str] = (),
               status: Iterable[str] = (), since: str | None = None, until: str | None = None,
               with_curves: bool = False) -> list[dict[str, Any]]:
        """Trials as dicts with :data:`RESULT_KEYS` (and ``curve`` when asked), oldest first.

        Filters are lists of accepted values (empty: any); ``since`` / ``until`` compare with
        ``started_at`` (ISO-8601 strings, e.g. ``2026-11-21``).
        """
        q = select(Trial).order_by(Trial.id)
        for col, values in ((Trial.method, method), (Trial.backbone, backbone), (Trial.dataset, dataset),
                            (Trial.status, status)):
            values = list(values)
            if values:
                q = q.where(col.in_(values))
        if since:
            q = q.where(Trial.started_at >= since)
        if until:
            q = q.where(Trial.started_at < until)
        out = []
        with Session(self.engine) as s:
            for t in s.scalars(q):
                row = {k: getattr(t, k) for k in RESULT_KEYS}
                if with_curves:
                    row["curve"] = [{"epoch": e.epoch, "train_time_s": e.train_time_s, "loss": e.loss,
                                     "val_metric": e.val_metric, "sample_time_s": e.sample_time_s,
                                     "compute_time_s": e.compute_time_s} for e in t.curve]
                out.append(row)
        return out


def dumps(rows: list[dict[str, Any]]) -> str:
    """JSON text of result rows."""
    return json.dumps(rows, indent=2, default=str)
