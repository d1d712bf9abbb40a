"""Debug ids and urls: the keys Sentry bundles are looked up by.

Pure functions on strings, as symbolic and Sentry's symbolicator compute them
(``docs/sentry.md``, "Debug ids" and "Urls").
"""

from __future__ import annotations

import re

__all__ = ["join_url", "normalize_debug_id", "normalize_path", "url_candidates"]

# Debug ids in the debugid crate's forms; ASCII hex digits only.
_HEX = "[0-9a-fA-F]"
_HYPHENATED_ID = re.compile(
    rf"({_HEX}{{8}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{4}})-({_HEX}{{12}})(?:-({_HEX}+))?"
)
_SIMPLE_ID = re.compile(rf"({_HEX}{{32}})({_HEX}+)?")
_PDB20_ID = re.compile(rf"({_HEX}{{8}})-?({_HEX}{{1,8}})")
#: appendix digits past these are ignored
_APPENDIX_DIGITS = 8


def normalize_debug_id(text: str) -> str | None:
    """Return ``text`` as a canonical debug id, or None when it is not one.

    Accepted, in any letter case: a UUID with or without hyphens, optionally
    followed by an appendix of hex digits (after a hyphen if and only if the
    UUID is hyphenated; digits past the eighth are ignored), and the short
    PDB 2.0 form (8 hex digits of timestamp, then the age). The canonical form
    is the lower-case hyphenated UUID, then ``-<appendix>`` in lower-case hex
    when the appendix is not zero. This is the parse and the display of the
    ``debugid`` crate that symbolic and Sentry use.
    """
    match = _HYPHENATED_ID.fullmatch(text)
    if match is not None:
        digits = "".join(match.group(1, 2, 3, 4, 5))
        tail = match.group(6)
    else:
        match = _SIMPLE_ID.fullmatch(text)
        if match is None:
            match = _PDB20_ID.fullmatch(text)
            if match is None:
                return None
            appendix = int(match.group(2), 16)
            return f"{int(match.group(1), 16):08X}" + (f"-{appendix:x}" if appendix else "")
        digits, tail = match.group(1, 2)
    digits = digits.lower()
    canonical = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    appendix = int(tail[:_APPENDIX_DIGITS], 16) if tail else 0
    return canonical + (f"-{appendix:x}" if appendix else "")


def _strip_host(url: str) -> str:
    """Return the part of ``url`` after its scheme and host (or after a leading ``~``)."""
    if url.startswith("~"):
        return url[1:]
    scheme_end = url.find("://")
    if scheme_end >= 0:
        rest = url[scheme_end + 3 :]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else rest
    return url


def url_candidates(url: str) -> list[str]:
    """Return the manifest urls a request for ``url`` matches, best first.

    As Sentry's symbolicator resolves release files: the fragment is dropped;
    then the url itself, the url without its query, and the same two with the
    scheme and host replaced by ``~`` (``https://example.com/static/app.js``
    also matches ``~/static/app.js``). Repeats are left out.
    """
    url = url.split("#", 1)[0]
    relative = _strip_host(url)
    candidates = [url]
    if "?" in url:
        candidates.append(url.split("?", 1)[0])
    candidates.append(f"~{relative}")
    if "?" in relative:
        candidates.append("~" + relative.split("?", 1)[0])
    unique: list[str] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def join_url(base: str, reference: str) -> str:
    """Resolve ``reference`` (a ``sourcemap`` header) against the file url ``base``.

    ``~`` counts as the scheme and host, as in the references.
    """
    if "://" in reference or reference.startswith("data:"):
        return reference
    base = base.split("#", 1)[0].split("?", 1)[0]
    if base.startswith("~"):
        origin, path = "~", base[1:]
    elif "://" in base:
        scheme, rest = base.split("://", 1)
        host, slash, tail = rest.partition("/")
        origin, path = f"{scheme}://{host}", slash + tail
    else:
        origin, path = "", base
    reference = reference.removeprefix("~")
    if reference.startswith("/"):
        return origin + reference
    segments = path.split("/")[:-1]  # the directory of the file
    for segment in reference.split("/"):
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    return origin + "/".join(segments)


def normalize_path(path: str) -> str:
    """Return ``path`` as the lookups key it: backslashes turned into slashes, as symbolic does."""
    return path.replace("\\", "/")
