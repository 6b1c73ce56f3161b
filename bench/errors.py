"""The errors gnnbench raises on bad input; the CLI turns each into one message and exit code 2."""
from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["GnnbenchError", "ConfigError", "UnknownNameError", "PluginError", "UnsupportedError",
           "DatasetMissingError", "DatasetCorruptError", "PredictionError", "BudgetError", "closest"]


class GnnbenchError(Exception):
    """Base of the errors that are the user's to fix (exit code 2 on the command line)."""


class ConfigError(GnnbenchError, ValueError):
    """A configuration value is invalid; the message names the key, the value and the fix."""


class UnknownNameError(GnnbenchError, ValueError):
    """A method, backbone or dataset name that no plugin is registered under."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        choices = sorted(choices)
        self.kind, self.name, self.choices = kind, name, choices
        hint = closest(name, choices)
        did_you_mean = f"; did you mean '{hint}'?" if hint else ";"
        super().__init__(
            f"unknown {kind} '{name}'{did_you_mean} available: {', '.join(choices) or '(none)'}"
            f" (see `gnnbench list {kind}s`)"
        )


class PluginError(GnnbenchError):
    """A registered plugin cannot be used: it fails to import or misses required attributes.

    The message names the entry point (``group:name = module:attr``) and its distribution.
    """


class UnsupportedError(GnnbenchError, ValueError):
    """A method asked to drive a backbone or task it does not support (raised before loading data)."""


class DatasetMissingError(GnnbenchError, FileNotFoundError):
    """A dataset's raw files are not where its loader looks; the message says which files to place where."""


class DatasetCorruptError(GnnbenchError, ValueError):
    """A dataset's raw file cannot be read; the message names the file and the fix."""


class PredictionError(ValueError):
    """A method's prediction is not what the runner scores (wrong shape, dtype or non-finite): a
    bug of the method, recorded as the trial's failure; the message names the method, the split,
    the expected and the received shape."""


class BudgetError(GnnbenchError, ValueError):
    """A per-batch budget a method cannot meet: even its smallest batch is larger (raised by the
    budget solver while the method sets up, before any trial is stored)."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (case- and separator-insensitive), or ``None``."""
    choices = list(choices)
    norm = {c.lower().replace("-", "").replace("_", ""): c for c in choices}
    key = name.lower().replace("-", "").replace("_", "")
    if key in norm:
        return norm[key]
    hits = difflib.get_close_matches(key, list(norm), n=1, cutoff=0.5)
    return norm[hits[0]] if hits else None
