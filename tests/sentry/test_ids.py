"""randread.sentry.ids: debug ids and the urls a lookup tries."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from randread.sentry import normalize_debug_id, url_candidates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        ("DFB8E43AF2423D73A453AEB6A777EF75", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-a", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-a"),
        ("DFB8E43AF2423D73A453AEB6A777EF75a", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-a"),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-0", "dfb8e43a-f242-3d73-a453-aeb6a777ef75"),
        # Appendix digits past the eighth are ignored (the debugid crate's "tail").
        ("dfb8e43af2423d73a453aeb6a777ef750000001affff", "dfb8e43a-f242-3d73-a453-aeb6a777ef75-1a"),
        ("dfb8e43a-1", "DFB8E43A-1"),
        ("DFB8E43A1", "DFB8E43A-1"),
        ("", None),
        ("not a debug id", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef7", None),
        ("dfb8e43af2423d73a453aeb6a777ef75-a", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75a", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-", None),
        ("gfb8e43a-f242-3d73-a453-aeb6a777ef75", None),
        ("dfb8e43a-f242-3d73-a453-aeb6a777ef75-\u0661", None),
    ],
)
def test_normalize_debug_id(text: str, expected: str | None) -> None:
    assert normalize_debug_id(text) == expected


@given(text=st.text(max_size=60), identifier=st.uuids(), upper=st.booleans())
def test_normalize_debug_id_never_raises_and_is_idempotent(
    text: str, identifier: uuid.UUID, upper: bool
) -> None:
    canonical = normalize_debug_id(text)
    if canonical is not None:
        assert normalize_debug_id(canonical) == canonical
    # Not only None: every UUID, in either case, is recognised as itself.
    spelled = str(identifier).upper() if upper else str(identifier)
    assert normalize_debug_id(spelled) == str(identifier)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.com/assets/bundle.min.js",
            ["https://example.com/assets/bundle.min.js", "~/assets/bundle.min.js"],
        ),
        (
            "https://example.com/assets/bundle.min.js?foo=1&bar=baz#wat",
            [
                "https://example.com/assets/bundle.min.js?foo=1&bar=baz",
                "https://example.com/assets/bundle.min.js",
                "~/assets/bundle.min.js?foo=1&bar=baz",
                "~/assets/bundle.min.js",
            ],
        ),
        (
            "app:///_next/server/pages/_error.js",
            ["app:///_next/server/pages/_error.js", "~/_next/server/pages/_error.js"],
        ),
        ("~/main.js", ["~/main.js"]),
        ("/abs/path.js", ["/abs/path.js", "~/abs/path.js"]),
    ],
)
def test_url_candidates(url: str, expected: list[str]) -> None:
    assert url_candidates(url) == expected
