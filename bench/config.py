"""Trial configuration: CLI / TOML → frozen pydantic models → runner → each plugin's own section.

A trial is ``(method, backbone, dataset, seed, config)``.  The TOML layout::

    method = "vqgnn"
    backbone = "sage"
    dataset = "cora"
    seeds = [0, 1, 2]

    [train]            # TrainConfig
    epochs = 200
    [budget]           # BudgetConfig
    messages_per_batch = 1500000
    [method_config]    # the method plugin's Config
    num_codewords = 256
    [backbone_config]  # the backbone plugin's Config
    hidden_channels = 128
    [dataset_config]   # the dataset plugin's Config

``--set key=value`` takes dotted keys, with ``method.``, ``backbone.`` and ``dataset.`` as short
forms of the ``*_config`` sections (``--set method.num_codewords=512 --set train.lr=0.005``).
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError

__all__ = ["TrainConfig", "BudgetConfig", "TrialConfig", "load_toml", "parse_set", "apply_sets",
           "format_validation_error", "config_hash", "canonical_hash", "SECTION_ALIASES", "set_path", "validate",
           "check_seeds", "merge_sources", "MAX_EPOCHS", "MAX_SEED"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: short prefixes accepted by ``--set``
SECTION_ALIASES = {"method": "method_config", "backbone": "backbone_config", "dataset": "dataset_config"}
#: no one means more epochs than this (a typo such as ``--epochs 2000000000`` is refused, not run for years)
MAX_EPOCHS = 1_000_000
#: seeds are 32-bit: numpy's and torch's ``seed_everything`` accept no more
MAX_SEED = 2**32 - 1


class TrainConfig(BaseModel):
    """Options of the training loop the runner drives.

    Args:
        epochs: training epochs (default 200, at most :data:`MAX_EPOCHS`).
        lr: learning rate (default 0.01).
        weight_decay: L2 penalty (default 5e-4, Kipf & Welling 2017; AdamW: decoupled decay).
        optimizer: ``"adam"`` (default), ``"rmsprop"`` (the official VQ-GNN set-up) or ``"adamw"``
            (:func:`gnnbench.training.build_optimizer`).
        eval_every: validate every this many epochs (default 1).
        patience: stop after this many validations without improvement (default ``None``: never).
    """

    model_config = _FROZEN
    epochs: int = Field(200, ge=1, le=MAX_EPOCHS)
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(5e-4, ge=0)
    optimizer: Literal["adam", "rmsprop", "adamw"] = "adam"
    eval_every: int = Field(1, ge=1, le=MAX_EPOCHS)
    patience: int | None = Field(None, ge=1, le=MAX_EPOCHS)


class BudgetConfig(BaseModel):
    """A per-batch budget that each method meets by choosing its own batch parameters.

    Only one of the two may be set (Table 3 of Ding et al. 2021 fixes 85K nodes or 1.5M messages).

    Args:
        nodes_per_batch: nodes per mini-batch.
        messages_per_batch: messages (edges) passed per mini-batch.
    """

    model_config = _FROZEN
    nodes_per_batch: int | None = Field(None, gt=0)
    messages_per_batch: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_budget(self) -> "BudgetConfig":
        if self.nodes_per_batch is not None and self.messages_per_batch is not None:
            raise ValueError("set budget.nodes_per_batch or budget.messages_per_batch, not both")
        return self


class TrialConfig(BaseModel):
    """One trial's full configuration (the plugin sections hold each plugin's own options).

    ``backbone`` is ``None`` (and ``backbone_config`` empty) exactly for a method that needs no
    backbone (``supported_backbones = frozenset()``, :func:`gnnbench.capabilities.needs_backbone`);
    :func:`gnnbench.runner.plan` refuses any other combination.
    """

    model_config = _FROZEN
    method: str
    backbone: str | None = None
    dataset: str = "synthetic"
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    train: TrainConfig = TrainConfig()
    budget: BudgetConfig = BudgetConfig()
    method_config: dict[str, Any] = Field(default_factory=dict)
    backbone_config: dict[str, Any] = Field(default_factory=dict)
    dataset_config: dict[str, Any] = Field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """The configuration as JSON-able data, seed excluded (what :func:`config_hash` hashes)."""
        data = self.model_dump(mode="json")
        data.pop("seed")
        return data


def config_hash(config: TrialConfig, device: str | None = None) -> str:
    """A 16-hex-digit SHA-256 of the canonical config without the seed, with ``device`` (the resolved
    device type, ``"cpu"`` or ``"cuda"``) in place of the one asked for when given.

    A trial's identity is ``(config_hash, seed)``: trials that differ only by seed share the hash
    (reports aggregate over them), a CPU and a CUDA trial of one configuration do not, and sweeps
    and ``run`` skip a (hash, seed) already completed.
    """
    return canonical_hash(config.model_dump(mode="json"), device)


def canonical_hash(data: dict[str, Any], device: str | None = None) -> str:
    """:func:`config_hash` of a stored configuration (JSON data, seed included or not)."""
    data = {k: v for k, v in data.items() if k != "seed"}
    if device is not None:
        data["device"] = device
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def format_validation_error(exc: ValidationError, where: str) -> str:
    """One message from a pydantic error: each bad key, its value and what is expected."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
            continue
        if not err["loc"]:  # a model validator: its message names the values
            parts.append(msg)
            continue
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        parts.append(f"{loc}{shown}: {msg}")
    return f"invalid {where}: " + "; ".join(parts)


def validate(model: type[BaseModel], data: Any, where: str):
    """Validate raw TOML / ``--set`` data against ``model`` strictly: no string-to-number coercion.

    The data goes through pydantic's JSON mode with ``strict=True``: ``"3"`` is not an integer and
    ``1.5`` not an ``int``, while a list is accepted for a tuple and an integer for a float (as
    in TOML itself).

    Raises:
        ConfigError: a bad value (each named with what is expected), or a value JSON cannot hold
            (a TOML date, NaN).
    """
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {where}: {exc}; values must be strings, finite numbers, booleans, lists "
                          f"or tables") from exc
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from exc


def check_seeds(seeds: Any, where: str = "seeds") -> list[int]:
    """The one seed validator of ``run`` and ``sweep``: a non-empty list of distinct integers in
    ``[0, MAX_SEED]``.

    Raises:
        ConfigError: anything else (the message shows the value and an example).
    """
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds)):
        raise ConfigError(f"{where} = {seeds!r}: expected a non-empty list of integers from 0 to {MAX_SEED}, "
                          f"e.g. seeds = [0, 1, 2]")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{where} = {seeds!r} repeats a seed ({', '.join(map(str, repeated))}); list each once "
                          f"(a trial is run once per configuration, seed and device; --rerun runs one again)")
    return seeds


def _setting(path: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The setting a key path names (``seed`` and ``seeds`` are one setting)."""
    key = tuple(path)
    return ("seeds",) if key in (("seed",), ("seeds",)) else key


def merge_sources(base: dict[str, Any], flags: list[tuple[tuple[str, ...], Any, str]],
                  sets: list[str]) -> dict[str, Any]:
    """``base`` (a TOML file's data) with the command line's flags and ``--set`` items applied.

    A file's value is overridden by the command line (that is what the command line is for), but
    one setting given twice on the command line — ``-m full_graph --set method=vqgnn``,
    ``--epochs 2 --set train.epochs=4``, ``--set a=1 --set a=2`` — is refused instead of one
    silently winning.

    Args:
        flags: ``(key path, value, how it was given)``; a ``None`` value was not given.
        sets: the ``--set key=value`` items.

    Raises:
        ConfigError: a conflict (the message names both sources) or a malformed ``--set``.
    """
    out = json.loads(json.dumps(base, default=str))
    given: dict[tuple[str, ...], str] = {}

    def put(path, value, source: str) -> None:
        key = _setting(path)
        for other, was in given.items():
            if other == key or other[:len(key)] == key or key[:len(other)] == other:
                raise ConfigError(f"{was} and {source} both set {'.'.join(key)}; give it once")
        given[key] = source
        set_path(out, list(path), value, source)

    for path, value, source in flags:
        if value is not None:
            put(path, value, source)
    for item in sets:
        path, value = parse_set(item)
        put(path, value, f"--set {item}")
    return out


def load_toml(path: Path) -> dict[str, Any]:
    """Read a trial/sweep TOML file.

    Raises:
        ConfigError: the file is missing or is not valid TOML (the message gives the line).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a folder; pass the path of a TOML file inside it")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass the path of a TOML file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not UTF-8 text: {exc}") from exc


def _parse_value(text: str) -> Any:
    """A TOML literal (``3``, ``0.5``, ``true``, ``[4, 4]``, ``"x"``) or, failing that, the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_set(item: str) -> tuple[list[str], Any]:
    """Split one ``--set key.path=value`` into its key path and parsed value.

    Raises:
        ConfigError: no ``=`` or an empty key.
    """
    key, sep, value = item.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not sep or not all(path):
        raise ConfigError(f"--set '{item}' is not of the form key=value (e.g. --set train.lr=0.005)")
    if path[0] in SECTION_ALIASES:
        path[0] = SECTION_ALIASES[path[0]] if len(path) > 1 else path[0]
    return path, _parse_value(value.strip())


def set_path(data: dict[str, Any], path, value: Any, where: str, noun: str = "section") -> None:
    """Set ``data[path[0]][path[1]]…`` to ``value`` in place, creating the tables on the way.

    Raises:
        ConfigError: a step of ``path`` is a value, not a table (``where`` names the source).
    """
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: '{part}' is a value, not a {noun}")
        node = child
    node[path[-1]] = value


def apply_sets(data: dict[str, Any], items: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to raw config ``data`` (a new dict is returned)."""
    out = json.loads(json.dumps(data))  # deep copy of plain data
    for item in items:
        path, value = parse_set(item)
        set_path(out, path, value, f"--set '{item}'")
    return out
