"""Which stored trials a reading command covers: one parser shared by ``results`` and ``report``.

Every filter is checked before the store is queried: a date that is not ISO-8601, ``--since`` not
before ``--until``, an unknown status, or a name that is neither registered nor stored (a typo
such as ``--method vqgn``) is a :class:`~gnnbench.errors.ConfigError`, never an empty answer.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import ConfigError, closest

__all__ = ["Filters", "STATUSES", "check_names", "check_against"]

#: the statuses a stored trial can have
STATUSES = ("completed", "failed", "oom", "interrupted", "running")


def _split(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


def _iso(value: str | None, flag: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{flag} '{value}' is not an ISO-8601 date; use e.g. 2026-11-21 or "
                          f"2026-11-21T01:30") from exc
    return value


class Filters:
    """Lists of accepted names (empty: any), statuses and a date range.

    Args:
        dataset, method, backbone: accepted names; ``"a,b"`` is split on commas.
        status: accepted statuses (:data:`STATUSES`).
        since: ISO-8601 date or time; trials started at or after it (default: any).
        until: ISO-8601 date or time; trials started before it (default: any).

    Raises:
        ConfigError: a date is not ISO-8601, ``since`` is not before ``until``, or a status is unknown.
    """

    def __init__(self, dataset: Iterable[str] = (), method: Iterable[str] = (), backbone: Iterable[str] = (),
                 since: str | None = None, until: str | None = None, status: Iterable[str] = ()):
        self.dataset, self.method, self.backbone = _split(dataset), _split(method), _split(backbone)
        self.status = _split(status)
        for s in self.status:
            if s not in STATUSES:
                hint = closest(s, STATUSES)
                raise ConfigError(f"unknown status '{s}'{'; did you mean ' + repr(hint) + '?' if hint else ';'} "
                                  f"choices: {', '.join(STATUSES)}")
        self.since, self.until = _iso(since, "--since"), _iso(until, "--until")
        if self.since and self.until and self.since >= self.until:
            raise ConfigError(f"--since {since} is not before --until {until}; swap them or widen the range")

    def describe(self) -> list[tuple[str, str]]:
        """(name, value) pairs of the filters that are set, for a report's header."""
        pairs = [("dataset", ", ".join(self.dataset)), ("method", ", ".join(self.method)),
                 ("backbone", ", ".join(self.backbone)), ("status", ", ".join(self.status)),
                 ("since", self.since or ""), ("until", self.until or "")]
        return [(k, v) for k, v in pairs if v]

    def query(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`gnnbench.store.Store.trials`."""
        return {"dataset": self.dataset, "method": self.method, "backbone": self.backbone, "status": self.status,
                "since": self.since, "until": self.until}


def check_names(filters: Filters, stored: dict[str, Iterable[str]]) -> None:
    """Refuse a name that is neither registered nor among the ``stored`` names of its kind.

    Args:
        stored: ``{"method": names in the store, "backbone": …, "dataset": …}``.

    Raises:
        ConfigError: the first such name, with the closest known one and the choices.
    """
    from . import registry

    for kind, wanted in (("method", filters.method), ("backbone", filters.backbone), ("dataset", filters.dataset)):
        # a trial of a method that needs no backbone stores none (None): no name to match
        known = sorted({n for n in stored.get(kind, ()) if n is not None} | set(registry.names(f"{kind}s")))
        for name in wanted:
            if name not in known:
                hint = closest(name, known)
                raise ConfigError(f"--{kind} '{name}' is neither a registered nor a stored {kind}"
                                  f"{'; did you mean ' + repr(hint) + '?' if hint else ';'} "
                                  f"known {kind}s: {', '.join(known)}")


def check_against(store, filters: Filters) -> None:
    """:func:`check_names` with the names held by ``store`` (a :class:`~gnnbench.store.Store`)."""
    if filters.method or filters.backbone or filters.dataset:
        everything = store.trials()
        check_names(filters, {k: {r[k] for r in everything} for k in ("method", "backbone", "dataset")})
