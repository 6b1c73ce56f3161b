"""Every package of the source tree is listed in pyproject (an unlisted one vanishes from the wheel)."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = cfg["package-dir"]
    listed = set(cfg["packages"])
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == listed, f"unlisted: {found - listed}; listed but missing: {listed - found}"
    for package in listed:
        assert package in mapping, f"{package} has no package-dir entry"


def test_readme_documents_every_plugin():
    from gnnbench import registry

    readme = (ROOT / "README.md").read_text()
    for kind in ("methods", "backbones", "datasets"):
        for entry in registry.entries(kind).values():
            if entry.distribution.startswith("gnnbench "):
                assert f"`{entry.name}`" in readme, f"{kind[:-1]} '{entry.name}' is not documented in README.md"
