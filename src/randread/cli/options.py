"""The options every archive command takes, and what they leave for the commands.

``--storage-option``, ``--index-cache`` and ``--debug`` may come before the
command name or after it, so their values live on the root context's
``meta`` rather than in the command's parameters.
"""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = [
    "debug_option",
    "debugging",
    "example",
    "index_cache",
    "index_cache_option",
    "storage_option",
    "storage_options",
]

_STORAGE_OPTIONS = "randread.storage_options"
_INDEX_CACHE = "randread.index_cache"
_DEBUG = "randread.debug"


def _root_meta() -> dict[str, Any] | None:
    context = click.get_current_context(silent=True)
    return context.find_root().meta if context is not None else None


def storage_options() -> dict[str, Any] | None:
    """Return the ``--storage-option`` values given, or None when there are none."""
    meta = _root_meta()
    options = meta.get(_STORAGE_OPTIONS) if meta is not None else None
    return options or None


def index_cache() -> str | None:
    """Return the ``--index-cache`` directory, or None when none was given."""
    meta = _root_meta()
    return meta.get(_INDEX_CACHE) if meta is not None else None


def debugging() -> bool:
    """Whether ``--debug`` was given: errors then go through with their traceback."""
    meta = _root_meta()
    return meta is not None and bool(meta.get(_DEBUG))


def _collect_storage_options(
    context: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> None:
    """Parse ``KEY=VALUE`` options (VALUE as JSON when it parses, a dotted KEY nests)."""
    options: dict[str, Any] = context.find_root().meta.setdefault(_STORAGE_OPTIONS, {})
    for item in values:
        key, separator, raw = item.partition("=")
        if not separator or not key:
            msg = f"{item!r} is not KEY=VALUE"
            raise click.BadParameter(msg, param_hint="'--storage-option'")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        target = options
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                msg = f"{key!r}: {part!r} is already set to a value"
                raise click.BadParameter(msg, param_hint="'--storage-option'")
        target[last] = value


storage_option = click.option(
    "--storage-option",
    multiple=True,
    metavar="KEY=VALUE",
    expose_value=False,
    callback=_collect_storage_options,
    help="An option for the filesystem of a URL archive (s3://, gs://, https://, ...), "
    "repeatable; VALUE is read as JSON when it parses, a dotted KEY nests "
    "(client_kwargs.region_name=eu-west-1). Credentials also come from the usual "
    "environment and config files.",
)


def _collect_index_cache(
    context: click.Context, _param: click.Parameter, value: str | None
) -> None:
    if value is not None:
        context.find_root().meta[_INDEX_CACHE] = value


index_cache_option = click.option(
    "--index-cache",
    metavar="DIR",
    expose_value=False,
    callback=_collect_index_cache,
    type=click.Path(file_okay=False),
    help="Keep the parsed central directory of a zip file in DIR, so that the next "
    "open of the same (unchanged) archive skips parsing it; a stale or damaged "
    "index there is rebuilt. Bundles ignore it.",
)


def _collect_debug(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        context.find_root().meta[_DEBUG] = True


#: ``--debug`` is taken before the command name and after it alike
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_collect_debug,
    help="Show the full traceback of an error instead of one line.",
)


def example(*commands: str) -> str:
    """Return a help epilog that shows ``commands`` as they are, not re-wrapped."""
    label = "Example" if len(commands) == 1 else "Examples"
    return "\b\n" + f"{label}:\n" + "\n".join(f"  {command}" for command in commands)
