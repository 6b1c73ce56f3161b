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
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import (JSON, BigInteger, Column, Float, ForeignKey, Integer, String, Table, Text, create_engine,
                        event, inspect, select, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from .errors import ConfigError
from .types import EPOCH_COLUMNS, RECORD_COLUMNS, EpochPoint, Status, TrialRecord

__all__ = ["SCHEMA_VERSION", "Base", "Trial", "Epoch", "Meta", "Store", "resolve_url", "RESULT_KEYS",
           "DEFAULT_DB", "resolved_device"]

#: bump with a migration in ``_MIGRATIONS`` whenever the tables change
SCHEMA_VERSION = 3
DEFAULT_DB = "gnnbench.db"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


_SQL_TYPES = {"float": Float, "int": BigInteger, "str": Text, "dict": JSON, "list": JSON, "Status": String}
#: record fields that are indexed, and the width of short string columns (kept as in version 1)
_INDEXED = {"status", "config_hash"}
_WIDTHS = {"status": 16, "metric": 32, "device": 32, "config_hash": 16, "started_at": 40, "finished_at": 40}


def _column(name: str, annotation: str) -> Column:
    """The store column of one record field: its SQL type from the field's annotation."""
    base = annotation.split("|")[0].strip().split("[")[0]
    kind = _SQL_TYPES[base]
    if kind in (String, Text) and name in _WIDTHS:
        kind = String(_WIDTHS[name])
    elif kind is String:
        kind = String(16)
    return Column(name, kind, index=name in _INDEXED, nullable=name not in ("status", "config_hash"))


def _record_columns(cls) -> list[Column]:
    return [_column(f.name, str(f.type)) for f in fields(cls) if f.name != "curve"]


_trials_table = Table(
    "trials", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), unique=True, index=True),
    Column("sweep_id", String(64), index=True),
    Column("method", String(128), index=True, nullable=False),
    Column("backbone", String(128), index=True),  # NULL: a method that needs no backbone (SGC, SIGN)
    Column("dataset", String(128), index=True, nullable=False),
    Column("seed", Integer, nullable=False),
    *_record_columns(TrialRecord),
    Column("runner_host", String(255)),
    Column("runner_pid", Integer),
)

_epochs_table = Table(
    "epochs", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", ForeignKey("trials.id"), index=True, nullable=False),
    *_record_columns(EpochPoint),
)


class Trial(Base):
    """One trial: (method, backbone, dataset, seed) and one column per :class:`TrialRecord` field."""

    __table__ = _trials_table
    curve = relationship("Epoch", back_populates="trial", cascade="all, delete-orphan", order_by="Epoch.epoch")


class Epoch(Base):
    """One point of a trial's convergence curve: one column per :class:`EpochPoint` field."""

    __table__ = _epochs_table
    trial = relationship(Trial, back_populates="curve")


#: the keys of ``gnnbench results --format json``, in order: the trial's key, then the record's fields
RESULT_KEYS = ["run_id", "method", "backbone", "dataset", "seed", *RECORD_COLUMNS, "sweep_id"]


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


def _running_row(run_id: str, config, config_hash: str, sweep_id: str | None, device: str | None = None) -> Trial:
    """The ``running`` row of a trial about to start in this process."""
    return Trial(run_id=run_id, sweep_id=sweep_id, method=config.method, backbone=config.backbone,
                 dataset=config.dataset, seed=config.seed, status=Status.RUNNING.value,
                 config=config.model_dump(mode="json"), config_hash=config_hash, device=device,
                 started_at=datetime.now(timezone.utc).isoformat(),
                 runner_host=socket.gethostname(), runner_pid=os.getpid())


def _progress(trial: Trial) -> None:
    """Fill ``epochs`` and the training times of an interrupted trial from its stored curve."""
    if trial.epochs is not None or not trial.curve:
        return
    rec = TrialRecord(curve=[EpochPoint(**{k: getattr(e, k) for k in EPOCH_COLUMNS}) for e in trial.curve])
    rec.keep_progress()
    for name in ("epochs", "train_time_s", "epoch_time_s", "sample_time_s", "transfer_time_s", "compute_time_s"):
        setattr(trial, name, getattr(rec, name))


# ------------------------------------------------------------------------------------ migrations
def _add_missing_columns(conn, table: Table) -> None:
    present = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for col in table.columns:
        if col.name not in present:
            kind = col.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {kind}')


def _migrate_1_to_2(conn) -> None:
    """Version 1 → 2: the record's new columns, and the identity hash re-derived with the resolved device.

    New columns (``transfer_time_s``, ``num_nodes``, ``num_edges``, ``reported_*``,
    ``device_name``, ``plugins``; ``epochs.transfer_time_s``) are added empty, except
    ``device_name``, copied from the stored ``environment``.  Version 1 hashed the configuration
    as asked (``device = "auto"``); ``config_hash`` becomes the hash with the device that ran
    (the ``device`` column, or the configuration's own when it named one), so that a CPU and a
    CUDA trial of one configuration are two trials.  The hash is that of the configuration as
    today's plugins resolve it (:func:`current_identity`), so that a stored trial and a new run of
    the same settings share it although options were added since (the optimiser, the backbones'
    normalisation, residual and activation, with their old behaviour as defaults).  Every other
    stored value, the stored configuration included, is kept as it was.
    """

    _add_missing_columns(conn, _trials_table)
    _add_missing_columns(conn, _epochs_table)
    t = _trials_table.c
    for row in conn.execute(select(t.id, t.config, t.device, t.environment)).all():
        config = row.config if isinstance(row.config, dict) else json.loads(row.config or "{}")
        env = row.environment if isinstance(row.environment, dict) or row.environment is None \
            else json.loads(row.environment)
        device = resolved_device(row.device, config.get("device"))
        values = {"config_hash": current_identity(config, device)}
        if env and env.get("device_name"):
            values["device_name"] = env["device_name"]
        conn.execute(update(_trials_table).where(t.id == row.id).values(**values))


def current_identity(config: dict[str, Any], device: str | None) -> str:
    """The identity hash of a stored configuration (JSON data) as today's plugins resolve it:
    :func:`gnnbench.runner.plan` fills the options added since it was stored with their defaults.
    A configuration that no longer plans (a plugin uninstalled, an option removed) keeps the hash
    of what was stored."""
    from .config import TrialConfig, canonical_hash
    from .errors import GnnbenchError

    try:
        from .runner import plan

        # planned for the CPU (defaults do not depend on the device; CUDA may be absent here)
        resolved = plan(TrialConfig.model_validate({**config, "device": "cpu"})).config.model_dump(mode="json")
    except (GnnbenchError, ValueError, TypeError):
        return canonical_hash(config, device)
    return canonical_hash({**resolved, "device": config.get("device", "auto")}, device)


def resolved_device(ran: str | None, asked: str | None) -> str | None:
    """The device type of a trial: the one it ran on (``"cuda:0"`` → ``"cuda"``), else the one asked
    for unless that was ``"auto"``; ``None`` when neither is known."""
    if ran:
        return str(ran).split(":")[0]
    return asked if asked and asked != "auto" else None


def _migrate_2_to_3(conn) -> None:
    """Version 2 → 3: ``trials.backbone`` may be NULL (a trial of a method that needs no backbone),
    and the working memory per phase (``load_cpu_bytes`` … ``memory_note``) is added, empty: trials
    stored before were not measured that way, and no figure is invented for them.

    Only the column's NOT NULL constraint goes; every stored value is kept.  SQLite cannot alter
    a column: its table definition is edited in place, the procedure SQLite documents for removing
    a NOT NULL constraint (https://sqlite.org/lang_altertable.html, "making other kinds of table
    schema changes"), since no stored row can violate the looser definition.
    """
    _nullable_backbone(conn)
    _add_missing_columns(conn, _trials_table)


def _nullable_backbone(conn) -> None:
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("ALTER TABLE trials ALTER COLUMN backbone DROP NOT NULL")
        return
    import re

    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trials'").scalar()
    new, count = re.subn(r'(\bbackbone"?\s+VARCHAR\(128\))\s+NOT NULL', r"\1", sql or "")
    if count != 1:
        raise RuntimeError(f"cannot find the NOT NULL backbone column in the trials table's definition: {sql!r}")
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'trials'", (new,))
        conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")


#: from-version → callable(connection) that brings the tables to from-version + 1
_MIGRATIONS: dict[int, Callable[[Any], None]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


class Store:
    """The results store at ``url`` (see :func:`resolve_url`), created and versioned on open.

    A database of an older schema version is migrated forward in one transaction (see
    ``_MIGRATIONS``); nothing stored is dropped.

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
            self._check_version()
        except ConfigError:
            raise
        except ModuleNotFoundError as exc:  # the database's driver is an optional dependency
            fix = {"psycopg": "pip install 'gnnbench[postgres]'",
                   "psycopg2": "use a postgresql+psycopg:// URL and pip install 'gnnbench[postgres]'"}.get(
                       exc.name or "", f"install it (pip install {exc.name})")
            raise ConfigError(f"cannot open the results database '{url}': its driver '{exc.name}' is not "
                              f"installed; {fix}") from exc
        except Exception as exc:  # noqa: BLE001 - any driver error becomes one message
            raise ConfigError(f"cannot open the results database '{url}': {type(exc).__name__}: {exc}") from exc

    def _check_version(self) -> None:
        with Session(self.engine) as s, s.begin():
            conn = s.connection()
            Meta.__table__.create(conn, checkfirst=True)
            row = s.get(Meta, "schema_version")
            existing = inspect(conn).has_table("trials")
            if row is None:
                found = 1 if existing else SCHEMA_VERSION  # tables without a version: version 1's
                row = Meta(key="schema_version", value=str(found))
                s.add(row)
            found = int(row.value)
            if found > SCHEMA_VERSION:
                raise ConfigError(f"the results database '{self.url}' has schema version {found}, newer than "
                                  f"this gnnbench's {SCHEMA_VERSION}; upgrade gnnbench")
            if found < SCHEMA_VERSION and existing:
                while found < SCHEMA_VERSION:
                    _MIGRATIONS[found](conn)
                    found += 1
            Base.metadata.create_all(conn)
            row.value = str(SCHEMA_VERSION)

    # -- writing -----------------------------------------------------------------------------
    def start_trial(self, config, config_hash: str, sweep_id: str | None = None, device: str | None = None) -> str:
        """Insert a ``running`` row for a trial about to start; returns its ``run_id``."""
        run_id = uuid.uuid4().hex
        with Session(self.engine) as s, s.begin():
            s.add(_running_row(run_id, config, config_hash, sweep_id, device))
        return run_id

    def add_epochs(self, run_id: str, points: list[EpochPoint]) -> None:
        """Append curve points to a running trial as they arrive (kept if its process is killed)."""
        if not points:
            return
        with Session(self.engine) as s, s.begin():
            trial = s.scalars(select(Trial).where(Trial.run_id == run_id)).one()
            have = {e.epoch for e in trial.curve}
            trial.curve.extend(Epoch(**p.to_dict()) for p in points if p.epoch not in have)

    def finish_trial(self, run_id: str, record: TrialRecord | dict[str, Any]) -> None:
        """Write a finished trial's record (and curve) into its row, in one transaction.

        A field left ``None`` keeps the row's value; an empty curve keeps the stored one.  An
        ``interrupted`` trial without ``epochs`` gets its epochs and training times from its curve.

        Raises:
            ValueError: ``record`` is a dict with a key that is not a :class:`TrialRecord` field.
        """
        if not isinstance(record, TrialRecord):
            record = TrialRecord.from_dict(record)
        with Session(self.engine) as s, s.begin():
            trial = s.scalars(select(Trial).where(Trial.run_id == run_id)).one()
            for key in RECORD_COLUMNS:
                value = getattr(record, key)
                if value is not None:
                    setattr(trial, key, value.value if isinstance(value, Status) else value)
            if record.curve:
                trial.curve = [Epoch(**p.to_dict()) for p in record.curve]
            if record.status == Status.INTERRUPTED:
                s.flush()
                _progress(trial)

    def claim_trial(self, config, config_hash: str, is_live: Callable[[str | None, int | None, str | None], bool],
                    sweep_id: str | None = None, device: str | None = None, rerun: bool = False) -> str | None:
        """Insert a ``running`` row unless ``(config_hash, config.seed)`` is taken; its ``run_id`` or ``None``.

        Taken means: a ``completed`` row exists (unless ``rerun``: ``gnnbench run --rerun`` adds a
        run beside it), or a ``running`` row whose runner ``is_live(runner_host, runner_pid,
        started_at)``.  ``device``: the resolved device, stored at once.  The check and the insert are one
        transaction (``BEGIN IMMEDIATE`` on SQLite), so two sweeps sharing a database never both
        complete the same pair.  ``config_hash`` carries the resolved device (the trial's identity).
        """
        run_id = uuid.uuid4().hex
        with Session(self.engine) as s, s.begin():
            rows = s.execute(select(Trial.status, Trial.runner_host, Trial.runner_pid, Trial.started_at).where(
                Trial.config_hash == config_hash, Trial.seed == config.seed,
                Trial.status.in_([Status.COMPLETED.value, Status.RUNNING.value]))).all()
            for status, host, pid, started in rows:
                if (status == Status.COMPLETED.value and not rerun) or \
                        (status == Status.RUNNING.value and is_live(host, pid, started)):
                    return None
            s.add(_running_row(run_id, config, config_hash, sweep_id, device))
        return run_id

    def interrupt_dead(self, is_live: Callable[[str | None, int | None, str | None], bool]) -> list[str]:
        """Mark ``running`` rows whose runner is not ``is_live(host, pid, started_at)`` as ``interrupted``.

        Their epochs and training times so far are set from their stored curve.  Returns the
        ``run_id`` of each row changed (``run``, ``sweep``, ``results`` and ``report`` call this).
        """
        with Session(self.engine) as s, s.begin():
            rows = s.scalars(select(Trial).where(Trial.status == Status.RUNNING.value)).all()
            dead = [t for t in rows if not is_live(t.runner_host, t.runner_pid, t.started_at)]
            now = datetime.now(timezone.utc).isoformat()
            for t in dead:
                t.status, t.finished_at = Status.INTERRUPTED.value, now
                t.error = (f"the process that ran this trial (pid {t.runner_pid} on {t.runner_host}) "
                           f"ended while the trial was running; found on resume (by a later run, sweep, "
                           f"results or report)")
                _progress(t)
            return [t.run_id for t in dead]

    def completed_pairs(self) -> set[tuple[str, int]]:
        """The ``(config_hash, seed)`` pairs that have a ``completed`` row (the hash carries the device)."""
        with Session(self.engine) as s:
            return {(h, seed) for h, seed in s.execute(
                select(Trial.config_hash, Trial.seed).where(Trial.status == Status.COMPLETED.value))}

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
                    row["curve"] = [{k: getattr(e, k) for k in EPOCH_COLUMNS} for e in t.curve]
                out.append(row)
        return out


def dumps(rows: list[dict[str, Any]]) -> str:
    """JSON text of result rows."""
    return json.dumps(rows, indent=2, default=str)
