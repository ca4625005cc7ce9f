"""Event registry, schema versions and upcasting (SPEC §4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from events.model import Event, event_type, json_schemas, load_event, upcast, upcaster
from ledger.core.money import Money


@event_type("TestFeeCharged", version=3)
class TestFeeCharged(Event):
    """v1 {"amount"}; v2 renamed to {"fee"}; v3 added {"payee"}."""

    fee: Money
    payee: str
    charged_on: date


@upcaster("TestFeeCharged", 1)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["fee"] = out.pop("amount")
    return out


@upcaster("TestFeeCharged", 2)
def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "payee": "trustee"}


def test_old_payloads_are_upcast_on_read() -> None:
    v1 = {"amount": "12.30", "charged_on": "2024-01-31"}
    ev = load_event("TestFeeCharged", 1, v1)
    assert isinstance(ev, TestFeeCharged)
    assert ev.fee == Decimal("12.30") and ev.payee == "trustee"
    assert upcast("TestFeeCharged", 3, {"x": 1}) == {"x": 1}


def test_newer_version_than_code_is_refused() -> None:
    with pytest.raises(ValueError, match="newer than this code"):
        upcast("TestFeeCharged", 4, {})


def test_events_are_frozen_and_strict() -> None:
    ev = TestFeeCharged(fee=Decimal("1.00"), payee="x", charged_on=date(2024, 1, 1))
    with pytest.raises(Exception, match="frozen"):
        ev.fee = Decimal("2.00")  # type: ignore[misc]
    with pytest.raises(Exception, match="Extra inputs"):
        TestFeeCharged.model_validate(
            {"fee": "1.00", "payee": "x", "charged_on": "2024-01-01", "other": 1}
        )


def test_json_schema_carries_version() -> None:
    assert json_schemas()["TestFeeCharged"]["x-schema-version"] == 3
