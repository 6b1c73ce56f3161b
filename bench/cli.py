"""The ``gnnbench`` console script (``gnnbench.cli:main``); the commands live in :mod:`gnnbench.commands`."""
from __future__ import annotations

from .commands import app, expand_multi, main

__all__ = ["app", "main", "expand_multi"]
