"""A decision's trace id is the RFC 9562 name-based (SHA-1, version 5) UUID of its name."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from monitor.gate import TRACE_NAMESPACE, trace_id


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=200))
def test_the_trace_id_is_the_version_5_uuid_of_model_slash_id(model: str, event_id: str) -> None:
    expected = uuid.uuid5(TRACE_NAMESPACE, f"{model}/{event_id}")
    assert trace_id(model, event_id) == expected.hex
    assert uuid.UUID(hex=trace_id(model, event_id)).version == 5


def test_a_known_trace_id_stays_the_same_across_releases() -> None:
    # Trace ids are compared across replays and systems: they must never change.
    assert trace_id("credit-risk", "e-1") == "d87feb1b61f458f297919105af8e4b7b"
