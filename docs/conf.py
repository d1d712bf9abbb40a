"""Sphinx configuration of randread's documentation site.

Build it with ``pip install -e '.[docs]' && python -m sphinx -W -b html docs docs/_build/html``.
The pages are the Markdown files of this directory (MyST); the API reference
(``api.md``) is generated from ``randread.__all__`` and the docstrings by the
``randread-api`` directive below, so it cannot disagree with the code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

import randread

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "randread"
author = "randread developers"
copyright = "randread developers"  # noqa: A001 - Sphinx's name for it
release = randread.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"randread {release}"

# Headings get anchors, so links such as cli.md#convert are checked.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Names of other projects, in signatures and docstrings, have no page here.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!randread\b).*"),
    (
        r"py:.*",
        (
            r"randread\.(readat|zip|bundle|sentry|conversion|errors|cache|_locks|_core|path"
            r"|protocol)(\..*)?"
        ),
    ),
]
suppress_warnings = ["myst.header"]
# No fetching of anything external, by linkcheck either: only the site's own links count.
linkcheck_ignore = [r"^https?://", r"^mailto:"]


# -- pages kept outside docs/ --------------------------------------------------------------

#: docs/formats/NAME.md stands for the repository's formats/NAME.md, and
#: docs/changelog.md for CHANGELOG.md
_INCLUDED = {f"formats/{path.stem}": path for path in (ROOT / "formats").glob("*.md")}
_INCLUDED["changelog"] = ROOT / "CHANGELOG.md"


def _read_source(_app: Any, docname: str, source: list[str]) -> None:  # noqa: ANN401
    """Serve the formats pages from formats/, and point links at the site's copies.

    The Markdown files link as the repository lays them out (docs/x.md links
    ../formats/y.md, formats/y.md links ../docs/x.md), which is right on a
    code host; on the site the formats pages live under formats/.
    """
    if docname in _INCLUDED:
        text = _INCLUDED[docname].read_text(encoding="utf-8")
        source[0] = re.sub(r"\]\(\.\./docs/", "](../", text)
        return
    source[0] = re.sub(r"\]\(\.\./formats/", "](formats/", source[0])
    if docname == root_doc:
        source[0] = _with_every_page(source[0])


def _with_every_page(index: str) -> str:
    """Add the pages of docs/ that index.md's table of contents leaves out, before formats/.

    A new page then appears on the site without an edit here; index.md
    fixes the order of the pages it names.
    """
    listed = set(re.findall(r"^([\w/-]+)$", index, flags=re.MULTILINE))
    others = [
        path.stem
        for path in sorted(DOCS.glob("*.md"))
        if path.stem not in listed and path.stem not in ("index", "README")
    ]
    added = "".join(f"{name}\n" for name in others)
    return index.replace("\nformats/", f"\n{added}formats/", 1)


# -- the API reference, generated from randread.__all__ ----------------------------------


def _public() -> list[tuple[str, object]]:
    return [(name, getattr(randread, name)) for name in randread.__all__]


def _kind(value: object) -> str:
    if inspect.isclass(value) and issubclass(value, BaseException):
        return "errors"
    if inspect.isclass(value):
        return "classes"
    if callable(value):
        return "functions"
    return "data"


class RandreadApi(SphinxDirective):
    """``{randread-api} KIND``: every public name of that kind, in ``__all__``'s order.

    KIND is ``classes``, ``functions``, ``errors`` (with a table of what each
    error also is) or ``data``. Each entry is autodoc's, so signatures and
    descriptions come from the code.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Return autodoc's entries for every public name of the kind asked for."""
        kind = self.arguments[0]
        lines: list[str] = []
        entries = [(name, value) for name, value in _public() if _kind(value) == kind]
        if kind == "errors":
            lines += _error_table(entries)
        for name, value in entries:
            if kind in ("classes", "errors"):
                directive = "autoclass"
            elif kind == "functions":
                directive = "autofunction"
            else:
                lines += [f".. py:data:: randread.{name}", f"   :value: {value!r}", ""]
                continue
            lines += [f".. {directive}:: randread.{name}", ""]
        # The docstrings are reStructuredText: autodoc runs inside an eval-rst block.
        markdown = ["```{eval-rst}", *lines, "```"]
        container = nodes.container()
        self.state.nested_parse(StringList(markdown, source="randread.__all__"), 0, container)
        return container.children


def _error_table(entries: list[tuple[str, object]]) -> list[str]:
    rows = []
    for name, value in entries:
        bases = [
            f"``{base.__module__}.{base.__qualname__}``"
            if base.__module__ not in ("builtins", "randread.errors")
            else f"``{base.__qualname__}``"
            for base in inspect.getmro(value)[1:]
            if base not in (object, BaseException, Exception)
            and not (base.__module__ == "randread.errors" and base.__name__ == "RandreadError")
        ]
        also = ", ".join(bases) if value is not randread.RandreadError else "(the base of all)"
        rows.append((f":class:`~randread.{name}`", also))
    lines = [".. list-table::", "   :header-rows: 1", "", "   * - error", "     - also a", ""]
    for error, bases in rows:
        lines += [f"   * - {error}", f"     - {bases}"]
    return [*lines, ""]


def _public_bases(_app: Any, _name: str, _obj: object, _options: Any, bases: list[Any]) -> None:  # noqa: ANN401
    """Leave private helper classes (randread._closing.CloseOnExit, ...) out of "Bases"."""
    bases[:] = [
        base for base in bases if not getattr(base, "__module__", "").startswith("randread._")
    ]


def setup(app: Any) -> dict[str, Any]:  # noqa: ANN401 - Sphinx's application object
    """Register the hooks and the ``randread-api`` directive."""
    app.connect("source-read", _read_source)
    app.connect("autodoc-process-bases", _public_bases)
    app.add_directive("randread-api", RandreadApi)
    return {"parallel_read_safe": True}
