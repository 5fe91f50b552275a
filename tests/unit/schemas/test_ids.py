"""The fast UUIDv5 helper gives exactly what the ``uuid`` module gives."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import Uuid5Namespace, format_uuid5

_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://peerlink.example/test")


@given(st.binary(min_size=16, max_size=32))
def test_uuid5_formatting_matches_the_uuid_module(digest: bytes) -> None:
    assert format_uuid5(digest) == str(uuid.UUID(bytes=digest[:16], version=5))


@given(st.text())
def test_ids_match_uuid5_for_any_name(name: str) -> None:
    ids = Uuid5Namespace(_NS)
    assert ids.id(name) == str(uuid.uuid5(_NS, name))
    assert ids.id(name.encode()) == ids.id(name)  # bytes and str name the same id
    assert ids.id(name) == ids.id(name)  # the namespace state is copied, never consumed
