"""The ``gnnbench`` command line: one typer app whose commands are registered through the
``gnnbench.commands`` entry-point group.

The built-in commands are registered in gnnbench's own ``pyproject.toml`` exactly like a plugin's
(``report`` comes from :mod:`gnnbench.reports.cli`, which the core never imports), so a
distribution adds a command with::

    [project.entry-points."gnnbench.commands"]
    mycommand = "my_package.cli:mycommand"   # a function with typer parameters

Every error that is the user's to fix — a usage error, a bad value, a bad combination, an
unusable path — prints one message naming the value, the choices and the fix, and exits with
code 2 before anything is written; an interrupt (Ctrl-C, SIGTERM) exits with 130.
"""
from __future__ import annotations

import importlib.metadata as md
import sys

import typer

from ..errors import GnnbenchError, PluginError
from ._common import console

__all__ = ["app", "main", "expand_multi"]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Benchmark strategies for scaling graph neural networks.")

#: options that take several values after one flag (``--seeds 0 1 2``)
_MULTI = ("--seeds", "--set")


def expand_multi(argv: list[str]) -> list[str]:
    """``--seeds 0 1 2`` → ``--seeds 0 --seeds 1 --seeds 2`` (typer options take one value each)."""
    result: list[str] = []
    current = None
    for tok in argv:
        if tok in _MULTI:
            current = tok
        elif tok.startswith("-") and not tok.lstrip("-").replace(".", "", 1).isdigit():
            current = None
        elif current is not None and result[-1] != current:
            result.append(current)
        result.append(tok)
    return result


def _broken(name: str, ep: md.EntryPoint, exc: Exception):
    def command() -> None:
        raise PluginError(f"command '{name}' failed to load from entry point 'gnnbench.commands:{name} = "
                          f"{ep.value}': {type(exc).__name__}: {exc}")

    command.__doc__ = f"(broken: {type(exc).__name__}: {exc})"
    return command


def _register() -> None:
    seen = set()
    for ep in sorted(md.entry_points(group="gnnbench.commands"), key=lambda e: e.name):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            fn = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin's command says so when used
            fn = _broken(ep.name, ep, exc)
        app.command(ep.name)(fn)


_register()


def _usage_error(exc: typer.TyperException) -> None:
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "gnnbench"
    text = exc.format_message().strip().rstrip(".")
    given = _rejected_input(exc)
    if given is not None:
        text += f" (got {given!r}" + (", an option where a value was expected" if given.startswith("-") else "") + ")"
    sep = " " if text.endswith("?") else "; "
    console.print(f"error: {text}{sep}see `{where} --help`", highlight=False, markup=False, soft_wrap=True)


def _rejected_input(exc: BaseException) -> str | None:
    """The token a pydantic-converted option refused (typer's message leaves it out), if known."""
    cause = exc.__cause__ or exc.__context__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        value = errors()[0].get("input")
    except Exception:  # noqa: BLE001 - not a pydantic error after all
        return None
    return value if isinstance(value, str) else None


def main(argv: list[str] | None = None) -> None:
    """Console entry point: bad input → one message on stderr and exit code 2; interrupt → 130."""
    args = expand_multi(list(sys.argv[1:] if argv is None else argv))
    if not app.registered_commands:
        console.print("error: no command is registered in the entry-point group 'gnnbench.commands': the "
                      "installed metadata of gnnbench is stale (a *.egg-info folder from an older install?); "
                      "reinstall it with `pip install -e .`", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    if not args:  # the usage, and the exit code of a usage error
        try:
            app(args=["--help"], prog_name="gnnbench", standalone_mode=False)
        except typer.Exit:
            pass
        console.print("error: no command given; choose one of the commands above (`gnnbench COMMAND --help`)",
                      highlight=False, markup=False)
        sys.exit(2)
    try:
        code = app(args=args, prog_name="gnnbench", standalone_mode=False)
    except GnnbenchError as exc:
        from rich.text import Text

        console.print(Text("error: ", style="red") + Text(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (unknown command or option, a value of the wrong type)
        _usage_error(exc)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
