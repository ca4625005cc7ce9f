"""The canonical form and hash are pinned: any JSON tool can reproduce them (SPEC §2.2)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.envelope import EVENT_ID_NAMESPACE, event_id_for
from events.hashing import (
    GENESIS,
    canonical_bytes,
    chain_hash,
    check_no_floats,
    header_values,
    timestamp_text,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_bytes_equal_the_stdlib_canonical_form(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_bytes(value) == expected.encode()


def test_known_answer_hash() -> None:
    header = header_values(
        event_id_for("D1", "k1"),
        "D1",
        1,
        "deal",
        1,
        "AdjustmentPosted",
        1,
        date(2024, 1, 31),
        timestamp_text(datetime(2024, 2, 1, 8, 30, tzinfo=UTC)),
        "ops",
        "trustee",
        "k1",
        None,
        None,
        GENESIS,
    )
    data = canonical_bytes({"reason": "x", "amount": "1.00"})
    # the same digest by hand, from the documented form
    by_hand = hashlib.sha256(
        json.dumps(list(header), separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n"
        + b'{"amount":"1.00","reason":"x"}'
    ).hexdigest()
    assert chain_hash(header, data) == by_hand
    assert header[8] == "2024-02-01T08:30:00.000000Z"
    assert str(EVENT_ID_NAMESPACE) == "4b7c3f0e-5d1a-4f57-9a53-2f0c6e1d8a10"


def test_raw_payload_floats_are_refused_with_their_path() -> None:
    with pytest.raises(TypeError, match=r"data\.legs\[1\]\.amount: a float"):
        check_no_floats({"legs": [{"amount": "1.00"}, {"amount": 1.0}]})
