"""Every code block of README.md and docs/*.md, run as a test.

Each fenced block is one test, named after its page and line
(``docs/quickstart.md:12``), and the blocks of a page run in order in one
temporary directory holding the sample archives the page mentions
(``tests/docs_samples.py``):

- ``python`` blocks are executed; the blocks of a page share one namespace,
  as a reader following the page would.
- ``sh`` and ``console`` blocks are run with bash, line by line (``$ `` starts
  a command in a ``console`` block; the lines up to the next ``$ `` are its
  output). A command's exit status must be 0, or 1 and more when its output
  shows ``randread: error:``. ``pip install`` is not run: the extras it names
  must exist in pyproject.toml.
- ``text``, ``json`` and ``toml`` blocks, and MyST directives other than
  ``{code-block}``, are not code. Every block must name
  its language, so that no block goes untested by accident.

HTML comments before a block steer it; they are invisible on the rendered
page:

- ``<!-- docs-test: skip (REASON) -->``: not run; reported as skipped with the reason.
- ``<!-- docs-test: requires MODULE, ... -->``: skipped when a module is not
  installed, as are python blocks that import one, unless the environment
  variable ``RANDREAD_REQUIRE`` (comma-separated module names) names it.
- ``<!-- docs-test: status N -->``: every command of the block must exit with status N.
- ``<!-- docs-test: output -->``: the output must match the block's
  (a line ``...`` stands for any number of lines).
- ``<!-- docs-test: replace OLD NAME -->``: before running, the text OLD
  becomes the string value of NAME in the page's namespace.
- ``<!-- docs-test: setup`` ... ``-->``: python code run as a block of its
  own, hidden from readers (to start a loopback server, say).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.docs_samples import create_samples

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"python", "sh", "console", "bash", "shell"}
NOT_CODE = {"text", "json", "toml", "directive"}
COMMAND_TIMEOUT = 180

_FENCE = re.compile(r"^(?P<fence>```+)(?P<info>[^`]*)$")
_MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*-->$")
_SETUP_START = re.compile(r"^<!--\s*docs-test:\s*setup\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block (or hidden setup) of a page, with its markers."""

    page: Path
    line: int
    language: str
    code: str
    markers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    def marker(self, word: str) -> list[str]:
        """The arguments of each marker starting with ``word``."""
        return [
            body[len(word) :].strip()
            for body in self.markers
            if body == word or body.startswith(word + " ")
        ]


def parse_page(page: Path) -> list[Block]:
    """Return the page's code blocks and hidden setup blocks, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    markers: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if _SETUP_START.match(stripped):
            end = index + 1
            while end < len(lines) and lines[end].strip() != "-->":
                end += 1
            code = "\n".join(lines[index + 1 : end])
            blocks.append(Block(page, index + 1, "python", code, ("setup",)))
            index = end + 1
            continue
        marker = _MARKER.match(stripped)
        if marker:
            markers.append(marker.group("body"))
            index += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != fence.group("fence"):
                end += 1
            words = fence.group("info").split()
            language = words[0] if words else ""
            if language in ("{code-block}", "{code}", "{sourcecode}"):
                language = words[1] if len(words) > 1 else ""
            elif language.startswith("{"):
                language = "directive"  # a MyST directive (toctree, ...): not code
            code = "\n".join(lines[index + 1 : end])
            blocks.append(Block(page, index + 1, language, code, tuple(markers)))
            markers = []
            index = end + 1
            continue
        if stripped:
            markers = []
        index += 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in parse_page(page)]


@dataclass
class PageState:
    """The temporary directory and namespace a page's blocks share."""

    directory: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None
    cleanups: list[Any] = field(default_factory=list)
    #: modules that earlier blocks of the page were skipped for
    missing: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def page_states(tmp_path_factory: pytest.TempPathFactory) -> Any:
    states: dict[Path, PageState] = {}

    def state(page: Path) -> PageState:
        if page not in states:
            directory = tmp_path_factory.mktemp(page.stem.lower())
            create_samples(page.read_text(encoding="utf-8"), directory)
            cleanups: list[Any] = []
            namespace = {"__name__": "__main__", "docs_cleanups": cleanups}
            states[page] = PageState(directory, namespace, cleanups=cleanups)
        return states[page]

    yield state
    for page_state in states.values():
        for cleanup in reversed(page_state.cleanups):
            cleanup()
        page_state.namespace.clear()


def required_modules(block: Block) -> list[str]:
    """Modules the block needs: its ``requires`` markers and a python block's imports."""
    names = [name.strip() for args in block.marker("requires") for name in args.split(",")]
    if block.language == "python":
        with contextlib.suppress(SyntaxError):
            for node in ast.walk(ast.parse(block.code)):
                if isinstance(node, ast.Import):
                    names += [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.append(node.module.split(".")[0])
    return [name for name in dict.fromkeys(names) if name]


def missing_modules(block: Block) -> list[str]:
    required = {name.strip() for name in os.environ.get("RANDREAD_REQUIRE", "").split(",")}
    missing = [name for name in required_modules(block) if importlib.util.find_spec(name) is None]
    demanded = [name for name in missing if name in required]
    if demanded:
        pytest.fail(f"{block.name} needs {', '.join(demanded)}, which RANDREAD_REQUIRE requires")
    return missing


def test_every_block_names_its_language() -> None:
    unnamed = [block.name for block in ALL_BLOCKS if not block.language]
    unknown = [
        f"{block.name} ({block.language})"
        for block in ALL_BLOCKS
        if block.language and block.language not in RUNNABLE | NOT_CODE
    ]
    assert not unnamed, f"blocks with no language (say text for output): {unnamed}"
    assert not unknown, f"blocks in a language the docs tests do not know: {unknown}"


def test_markers_name_known_directives() -> None:
    known = ("skip", "requires", "output", "replace", "setup", "status")
    for block in ALL_BLOCKS:
        for body in block.markers:
            assert body.split(" ")[0] in known, f"{block.name}: unknown marker {body!r}"
        for reason in block.marker("skip"):
            well_formed = reason.startswith("(") and reason.endswith(")") and len(reason) > 2
            assert well_formed, f"{block.name}: a skip gives its reason in parentheses"


@pytest.mark.parametrize(
    "block",
    [block for block in ALL_BLOCKS if block.language in RUNNABLE],
    ids=lambda block: block.name,
)
def test_block(block: Block, page_states: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for reason in block.marker("skip"):
        pytest.skip(f"{block.name}: {reason[1:-1]}")
    missing = missing_modules(block)
    state: PageState = page_states(block.page)
    if missing:
        state.missing += missing
        pytest.skip(
            f"{block.name}: needs {', '.join(missing)}, not installed "
            "(RANDREAD_REQUIRE=NAME makes this a failure)"
        )
    if state.failed is not None:
        pytest.fail(f"an earlier block of the page failed: {state.failed}")
    code = block.code
    for args in block.marker("replace"):
        old, name = args.rsplit(" ", 1)
        if name not in state.namespace and state.missing:
            pytest.skip(f"{block.name}: {name} comes from a block that needs {state.missing}")
        code = code.replace(old, str(state.namespace[name]))
    monkeypatch.chdir(state.directory)
    try:
        if block.language == "python":
            run_python(block, code, state)
        else:
            run_shell(block, code, state)
    except NameError as exc:
        if not state.missing:
            state.failed = block.name
            raise
        # A name an earlier block would have defined, had its modules been there.
        pytest.skip(f"{block.name}: {exc}, from a block that needs {', '.join(state.missing)}")
    except BaseException:
        state.failed = block.name
        raise


def run_python(block: Block, code: str, state: PageState) -> None:
    # Leading newlines make tracebacks point at the page's own line numbers.
    source = "\n" * block.line + textwrap.dedent(code)
    with warnings.catch_warnings():
        # Ray Data warns about its own settings as it starts (ray.data.context);
        # a warning of the docs' own code still fails the block.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.")
        exec(compile(source, str(block.page), "exec"), state.namespace)  # noqa: S102 - the docs' own code


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def shell_commands(code: str) -> list[Command]:
    """Split a shell block into commands, each with the output the page shows for it."""
    lines = code.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    commands: list[Command] = []
    pending = ""
    for line in lines:
        if pending:
            text = line
        elif prompted and not line.startswith("$ "):
            if commands:
                commands[-1].expected.append(line)
            continue
        else:
            text = line[2:] if prompted else line
        if not text.strip() or (text.lstrip().startswith("#") and not pending):
            continue
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        commands.append(Command(pending + text))
        pending = ""
    return commands


def check_pip_install(block: Block, command: str) -> None:
    """A ``pip install`` line installs this project (or its published name) with real extras."""
    extras = set(importlib.metadata.metadata("randread").get_all("Provides-Extra") or [])
    words = [word for word in shlex.split(command, comments=True)[2:] if not word.startswith("-")]
    assert words, f"{block.name}: {command!r} installs nothing"
    for word in words:
        target, _, rest = word.partition("[")
        assert target in {".", "randread"}, f"{block.name}: {command!r} installs {target!r}"
        for extra in filter(None, rest.rstrip("]").split(",")):
            assert extra.strip() in extras, (
                f"{block.name}: no extra {extra!r} in randread's metadata"
            )


def run_shell(block: Block, code: str, state: PageState) -> None:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(state.directory),
        "PYTHONIOENCODING": "utf-8",
    }
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        environment.pop(variable, None)
    check_output = bool(block.marker("output"))
    commands = shell_commands(code)
    assert commands, f"{block.name}: a shell block with no command"
    for command in commands:
        parts = [part.strip() for part in command.text.split("&&")]
        runnable = []
        for part in parts:
            if part.startswith("pip install"):
                check_pip_install(block, part)
            else:
                runnable.append(part)
        if not runnable:
            continue
        result = subprocess.run(  # noqa: S603 - the docs' own commands, in a temporary directory
            ["bash", "-o", "pipefail", "-c", " && ".join(runnable)],  # noqa: S607
            cwd=state.directory,
            env=environment,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        output = (result.stdout + result.stderr).splitlines()
        shows_error = any(line.startswith("randread: error:") for line in command.expected)
        context = f"{block.name}: $ {command.text}\n{result.stdout}{result.stderr}"
        if block.marker("status"):
            assert result.returncode == int(block.marker("status")[0]), context
        elif shows_error:
            assert result.returncode != 0, context
        else:
            assert result.returncode == 0, context
        if check_output:
            assert matches(command.expected, output), (
                f"{context}\n--- the page shows:\n" + "\n".join(command.expected)
            )


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines match ``expected``, where a line ``...`` matches any lines."""
    if not expected:
        return not actual
    head, *rest = expected
    if head.strip() == "...":
        return any(matches(rest, actual[start:]) for start in range(len(actual) + 1))
    return bool(actual) and actual[0].rstrip() == head.rstrip() and matches(rest, actual[1:])


# -- the collector's own behaviour -------------------------------------------------


def test_parser_finds_blocks_markers_and_hidden_setup(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n<!-- docs-test: skip (no network) -->\n\n```sh\npip install x\n```\n\n"
        "<!-- docs-test: setup\nvalue = 1\n-->\n\ntext\n\n```python\nprint(value)\n```\n"
        "<!-- docs-test: output -->\nA paragraph between.\n\n```console\n$ true\n```\n",
        encoding="utf-8",
    )
    blocks = parse_page(page)
    assert [(block.line, block.language) for block in blocks] == [
        (5, "sh"),
        (9, "python"),
        (15, "python"),
        (21, "console"),
    ]
    assert blocks[0].marker("skip") == ["(no network)"]
    assert blocks[1].markers == ("setup",)
    assert blocks[1].code == "value = 1"
    assert blocks[2].markers == ()
    assert blocks[3].markers == (), "a paragraph between a marker and a block ends the marker"


def test_console_commands_and_their_output() -> None:
    code = "$ randread ls a.zip\nREADME.md\n$ randread cat a.zip \\\n  b\nb's text\n"
    commands = shell_commands(code)
    assert [(c.text, c.expected) for c in commands] == [
        ("randread ls a.zip", ["README.md"]),
        ("randread cat a.zip    b", ["b's text"]),
    ]


def test_output_matching_with_ellipsis() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["...", "c"], ["c"])
    assert not matches(["a", "d"], ["a", "b", "d"])
    assert not matches(["a"], [])


def test_pip_lines_are_checked_against_the_extras() -> None:
    block = Block(ROOT / "x.md", 1, "sh", "")
    check_pip_install(block, "pip install -e '.[fast,plot]'")
    with pytest.raises(AssertionError, match="no extra"):
        check_pip_install(block, "pip install -e '.[nonexistent]'")
    with pytest.raises(AssertionError, match="installs"):
        check_pip_install(block, "pip install requests")


def test_the_api_reference_covers_every_public_name() -> None:
    """docs/api.md generates an entry for each kind of name in ``randread.__all__``."""
    import inspect  # noqa: PLC0415 - only this test needs it

    import randread  # noqa: PLC0415

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    generated = set(re.findall(r"^```\{randread-api\} (\w+)$", text, flags=re.MULTILINE))
    for name in randread.__all__:
        value = getattr(randread, name)
        if inspect.isclass(value):
            kind = "errors" if issubclass(value, BaseException) else "classes"
        else:
            kind = "functions" if callable(value) else "data"
        assert kind in generated, f"api.md generates no {kind} entries, so {name} is missing"
    assert "### `" not in text, "signatures in api.md are generated, not written by hand"


def test_missing_optional_modules_skip_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    block = Block(ROOT / "x.md", 1, "python", "import json\nimport no_such_module_here\n")
    monkeypatch.delenv("RANDREAD_REQUIRE", raising=False)
    assert missing_modules(block) == ["no_such_module_here"]
    monkeypatch.setenv("RANDREAD_REQUIRE", "torch,no_such_module_here")
    with pytest.raises(pytest.fail.Exception, match="RANDREAD_REQUIRE requires"):
        missing_modules(block)
    marked = Block(ROOT / "x.md", 1, "sh", "randread bench --plot x.png", ("requires json",))
    assert required_modules(marked) == ["json"]
    assert missing_modules(marked) == []
