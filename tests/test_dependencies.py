"""Every third-party distribution that gnnbench imports is declared in ``pyproject.toml``.

A fresh ``pip install -e .`` installs only what is declared: an import of anything else works in a
developer's virtual environment that happens to have it (``click`` came in with ``ray``) and fails on
a newcomer's machine. This test walks every module of the source tree, collects every import
(module level and inside functions), maps each top-level module to the distributions that provide
it (``importlib.metadata.packages_distributions``) and checks it against what gnnbench declares
(``importlib.metadata.requires``):

- modules of the package directories may import the base dependencies; a module listed under an
  extra in ``[tool.gnnbench.extra-modules]`` may also import that extra's distributions, and only
  inside functions (so that the base install still imports it);
- ``tests/`` may import the base dependencies and the ``test`` extra; ``benchmarks/`` and
  ``examples/`` the base ones.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@functools.lru_cache(maxsize=None)
def _providers() -> dict[str, list[str]]:
    return md.packages_distributions()


@functools.lru_cache(maxsize=None)
def declared() -> dict[str | None, set[str]]:
    """``{None: base distributions, extra: its distributions}`` as the installed metadata declares them."""
    out: dict[str | None, set[str]] = {None: set()}
    for text in md.requires("gnnbench") or []:
        req = Requirement(text)
        extras = [e for e in PYPROJECT["project"].get("optional-dependencies", {})
                  if req.marker is not None and req.marker.evaluate({"extra": e})]
        for extra in extras or [None]:
            out.setdefault(extra, set()).add(canonicalize_name(req.name))
    return out


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(top-level module, line, inside a function)`` for every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name.split(".")[0], child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def undeclared(path: Path, module: str, allowed: set[str], lazy_allowed: set[str]) -> list[str]:
    """One line per import in ``path`` whose distribution is not in ``allowed`` (or, inside a
    function only, in ``lazy_allowed``); stdlib and gnnbench itself are always allowed."""
    providers = _providers()
    problems = []
    for top, line, in_function in imports(path):
        if top in sys.stdlib_module_names or top in ("gnnbench", "__future__"):
            continue
        dists = {canonicalize_name(d) for d in providers.get(top, [])}
        if dists & allowed or (in_function and dists & lazy_allowed):
            continue
        why = ("is not installed, so no declared distribution provides it" if not dists else
               f"comes from {', '.join(sorted(dists))}, which "
               + ("is declared in an extra and may only be imported inside a function"
                  if dists & lazy_allowed else "pyproject.toml does not declare for it"))
        problems.append(f"{module} ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}) "
                        f"imports '{top}', which {why}")
    return problems


def source_modules():
    """``(dotted module name, path)`` for every module of the package directories."""
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        base = ROOT / folder
        for path in sorted(base.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            if package in PYPROJECT["tool"]["setuptools"]["packages"]:
                yield name, path


def test_every_import_of_the_package_is_declared():
    deps = declared()
    by_module = {m: extra for extra, mods in PYPROJECT["tool"]["gnnbench"]["extra-modules"].items() for m in mods}
    problems = []
    for module, path in source_modules():
        extra = by_module.get(module)
        problems += undeclared(path, module, deps[None], deps.get(extra, set()) if extra else set())
    assert not problems, "undeclared imports:\n" + "\n".join(problems)


@pytest.mark.parametrize("folder,extras", [("tests", ("test",)), ("benchmarks", ()), ("examples", ())])
def test_every_import_of_tests_and_benchmarks_is_declared(folder, extras):
    deps = declared()
    allowed = set().union(deps[None], *(deps[e] for e in extras))
    problems = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "plugins" in path.relative_to(ROOT).parts:  # the example plugins are distributions of their own
            continue
        problems += undeclared(path, str(path.relative_to(ROOT)), allowed, set())
    assert not problems, "undeclared imports:\n" + "\n".join(problems)


def test_extra_modules_name_real_modules_and_extras():
    modules = {m for m, _ in source_modules()}
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    for extra, mods in PYPROJECT["tool"]["gnnbench"]["extra-modules"].items():
        assert extra in extras, f"[tool.gnnbench.extra-modules] names extra '{extra}', not one of {sorted(extras)}"
        assert set(mods) <= modules, f"[tool.gnnbench.extra-modules] {extra}: no such module {set(mods) - modules}"


def test_an_undeclared_import_is_named_with_its_line(tmp_path):
    """The check itself can fail: ``click`` (vendored by typer ≥ 0.26, not declared) is refused."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport typer\n\ndef f():\n    import click\n    import rich\n")
    deps = declared()
    problems = undeclared(bad, "gnnbench.bad", deps[None], set())
    assert len(problems) == 1 and "gnnbench.bad" in problems[0] and "bad.py:5" in problems[0] \
        and "'click'" in problems[0], problems


def test_an_extras_import_at_module_level_is_refused(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pytest\n\ndef f():\n    import pytest\n")
    deps = declared()
    problems = undeclared(bad, "gnnbench.bad", deps[None], deps["test"])
    assert len(problems) == 1 and "bad.py:1" in problems[0] and "inside a function" in problems[0], problems
