"""The layers of src/randread: every import goes to its own layer or below.

The table is the layer diagram of the style guide. Each module is parsed (not
imported: ``randread/__init__`` imports everything) and every ``randread``
import it makes, at the top, in a function or under ``TYPE_CHECKING``, is
checked against it. A new module needs a row here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "randread"

#: module or package (and everything under it) -> layer, most specific first
LAYERS: dict[str, int] = {
    # 0: nothing of ours above; the protocols import nothing at all
    "randread.errors": 0,
    "randread._locks": 0,
    "randread._checksum": 0,
    "randread._closing": 0,
    "randread._runtime": 0,
    "randread.protocol": 0,
    # 1: positional reads
    "randread.readat": 1,
    # 2: what both formats share
    "randread._core": 2,
    "randread._extract": 2,
    # 3: the formats, apart from each other
    "randread.zip": 3,
    "randread.bundle": 3,
    # 4: above both formats
    "randread.conversion": 4,
    "randread.sentry": 4,
    # 5: either format, whichever a file is
    "randread.archive": 5,
    # 6: adapters
    "randread._listing": 6,
    "randread.cache": 6,
    "randread.path": 6,
    "randread.filesystem": 6,
    "randread.dask": 6,
    "randread.torch": 6,
    "randread.ray": 6,
    # 7: the public API (randread/__init__.py re-exports)
    "randread": 7,
    # 8: what uses the public API
    "randread.cli": 8,
    "randread.bench": 8,
    "randread.__main__": 8,
}

#: packages that may not import each other although they share a layer
APART = {"randread.zip": "randread.bundle", "randread.bundle": "randread.zip"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> tuple[str, int]:
    """Return the table row that covers ``module`` and its layer."""
    for row, layer in sorted(LAYERS.items(), key=lambda item: -len(item[0])):
        if module == row or module.startswith(row + "."):
            return row, layer
    msg = f"{module} has no layer: add it to LAYERS in {__file__}"
    raise AssertionError(msg)


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """Every randread module ``module`` imports, with the line of the import."""
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from randread import _locks`` imports a module, not a name of the package
                submodule = f"{base}.{alias.name}"
                found.append((node.lineno, submodule if submodule in MODULES else base))
    return [(line, name) for line, name in found if name.split(".")[0] == "randread"]


def test_every_module_has_a_layer() -> None:
    assert MODULES
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_to_the_same_layer_or_below(module: str) -> None:
    row, layer = layer_of(module)
    path = MODULES[module]
    wrong = []
    for line, imported in imports_of(module, path):
        imported_row, imported_layer = layer_of(imported)
        if imported_layer > layer or APART.get(row) == imported_row:
            wrong.append(
                f"{path.relative_to(SRC.parent)}:{line}: {module} (layer {layer}) "
                f"imports {imported} (layer {imported_layer})"
            )
    assert not wrong, "\n".join(wrong)


def test_a_format_imports_no_conversion_no_sentry_and_not_the_other_format() -> None:
    """What importing the bundle format runs, read from its modules' imports."""
    for package, others in (
        ("randread.bundle", ("randread.zip", "randread.sentry", "randread.conversion")),
        ("randread.zip", ("randread.bundle", "randread.sentry", "randread.conversion")),
    ):
        for module, path in MODULES.items():
            if module == package or module.startswith(package + "."):
                for line, imported in imports_of(module, path):
                    assert not imported.startswith(others), f"{module}:{line} imports {imported}"
