"""Roles by event type (SPEC §2.9, issue 14 item 1): one policy in the library, the same answer
through the HTTP API and the library, on both backends.

Every event type is posted as every role, through ``POST /deals/{deal}/events`` and through the
library (:func:`ledger.servicing.operator.post_operator_event`, and the store itself): a role the
policy refuses gets 403 (:class:`~events.policy.PolicyError`) naming the type's rule, and nothing
is stored; a role it allows is not refused for its role. Then the attacks the issue found: a
servicer approving a cycle in the trustee's name, declaring an event, moving RMB 1,000,000 out of
``trust:collections``, reversing the trustee's distribution.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events import catalogue  # noqa: F401  (registers the event types)
from events.envelope import NewEvent
from events.model import registered_types
from events.policy import (
    POLICY,
    ROLES,
    Identity,
    PolicyError,
    check_event,
    rule_of,
)
from ledger.servicing.operator import post_operator_event
from projections.store import ProjectedStore
from tests.test_api import DEAL, auth, client, serviced  # noqa: F401  (fixtures)

CATALOGUE = sorted(n for n, c in registered_types().items() if c.__module__.startswith("events."))
OPEN_DAY = dt.date(2021, 11, 5)
"""After the first payment date's sealed period: where a test's posts are dated."""

MOVE_A_MILLION = {
    "entry": {
        "postings": [
            {"account": "payable:party:servicer", "amount": "1000000.00"},
            {"account": "trust:collections", "amount": "-1000000.00"},
        ]
    },
    "reason": "fee",
}
SAMPLES: dict[str, dict[str, Any]] = {
    "AdjustmentPosted": {
        "entry": {
            "postings": [
                {"account": "trust:income", "amount": "1.00"},
                {"account": "equity:seller", "amount": "-1.00"},
            ]
        },
        "reason": "rounding",
    },
    "CycleApproved": {"payment_date": "2021-11-26"},
    "EventDeclared": {
        "trigger_id": "event_of_default", "basis": "trustee", "declared_on": "2021-11-05"
    },
    "CollectionsRemitted": {"value_date": "2021-11-05", "amount": "0.00", "reference": "nil"},
}  # fmt: skip
"""Payloads that post as they are, for the types an operator posts by hand."""


def test_every_event_type_has_a_rule() -> None:
    assert set(CATALOGUE) <= set(POLICY), set(CATALOGUE) - set(POLICY)
    assert set(POLICY) <= set(CATALOGUE), "a rule for a type that does not exist"
    for name, rule in POLICY.items():
        assert "auditor" not in rule.post | rule.reverse, name
    # a type without a rule is posted by nobody
    assert not rule_of("NoSuchType").post


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("type_name", CATALOGUE)
def test_the_policy_judges_every_type_and_role(type_name: str, role: str) -> None:
    allowed = role in rule_of(type_name).post
    if allowed:
        reverses = "CollectionReceived" if role == "servicer" else "AdjustmentPosted"
        check_event("someone", role, type_name, {"reversed_type": reverses})
        return
    with pytest.raises(PolicyError) as refused:
        check_event("someone", role, type_name, {})
    assert refused.value.rule == rule_of(type_name).describe(type_name)
    assert f"role {role} may not post {type_name}" in str(refused.value)


def _post(api: TestClient, role: str, type_name: str, data: dict[str, Any]) -> Any:
    body = {"type": type_name, "data": data, "effective_date": OPEN_DAY.isoformat()}
    return api.post(f"/deals/{DEAL}/events", json=body, headers=auth(role))


def test_every_type_as_every_role_through_the_api_and_the_library(
    serviced: ProjectedStore,  # noqa: F811
    client: TestClient,  # noqa: F811
) -> None:
    store = serviced
    r = client.post(f"/deals/{DEAL}/run-due", json={"until": "2021-10-26"}, headers=auth("trustee"))
    assert r.status_code == 200, r.text
    for type_name in CATALOGUE:
        rule = rule_of(type_name)
        for role in ROLES:
            head = store.head(DEAL)
            data = dict(SAMPLES.get(type_name, {}))
            answer = _post(client, role, type_name, data)
            if role not in rule.post:
                assert answer.status_code == 403, (type_name, role, answer.text)
                assert answer.json()["rule"] == rule.describe(type_name)
                with pytest.raises(PolicyError, match=f"may not post {type_name}"):
                    post_operator_event(store, type_name, DEAL, data, f"{role}-desk", role)
                # and the store refuses it whichever way it comes
                raw = NewEvent(
                    deal_id=DEAL, stream_id="deal", type=type_name, schema_version=1, data=data,
                    effective_date=OPEN_DAY, idempotency_key=f"raw-{type_name}-{role}",
                    actor=f"{role}-desk", role=role, checked=True,
                )  # fmt: skip
                with pytest.raises(PolicyError):
                    store.append([raw])
                assert store.head(DEAL) == head
                continue
            assert answer.status_code != 403, (type_name, role, answer.text)
            if type_name in SAMPLES:
                assert answer.status_code == 200, (type_name, role, answer.text)
                posted = store.get(DEAL, answer.json()["event_id"])
                assert posted is not None
                assert (posted.actor, posted.role) == (f"{role}-desk", role)


def test_the_attacks_the_issue_found_are_refused(
    serviced: ProjectedStore,  # noqa: F811
    client: TestClient,  # noqa: F811
) -> None:
    store = serviced
    r = client.post(f"/deals/{DEAL}/run-due", json={"until": "2021-10-26"}, headers=auth("trustee"))
    assert r.status_code == 200, r.text
    head = store.head(DEAL)
    approval = {"payment_date": "2021-11-26", "approved_by": "trustee-desk"}
    declared = {"trigger_id": "event_of_default", "declared_by": "trustee-desk",
                "basis": "trustee", "declared_on": "2021-11-05"}  # fmt: skip
    for type_name, data in (
        ("CycleApproved", approval),
        ("EventDeclared", declared),
        ("AdjustmentPosted", MOVE_A_MILLION),
    ):
        refused = _post(client, "servicer", type_name, data)
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule"].startswith(f"{type_name}: posted by trustee")
    (paid,) = list(store.read(DEAL, types=["DistributionPaid"]))
    reversal = {"event_id": paid.event_id, "reason": "undo the trustee's distribution"}
    refused = _post(client, "servicer", "reversal", reversal)
    assert refused.status_code == 403
    assert refused.json()["rule"] == "DistributionPaid: posted by trustee, reversed by trustee"
    assert store.head(DEAL) == head
    # names come from the caller, never from the body
    forged = _post(client, "trustee", "CycleApproved", approval | {"approved_by": "someone-else"})
    assert forged.status_code == 422 and "approved_by" in forged.text
    assert store.head(DEAL) == head
    mine = _post(client, "trustee", "CycleApproved", {"payment_date": "2021-11-26"})
    assert mine.status_code == 200, mine.text
    recorded = store.get(DEAL, mine.json()["event_id"])
    assert recorded is not None and recorded.data["approved_by"] == "trustee-desk"
    assert (recorded.actor, recorded.role) == ("trustee-desk", "trustee")


def test_a_reversal_must_name_what_it_reverses(store: ProjectedStore) -> None:
    """A raw reversal (an import) that calls the trustee's event a servicer's is refused: the
    policy judges the stored original's type."""
    from tests.helpers import adjustment

    (adj,) = store.append([adjustment("5.00")]).events
    forged = NewEvent(
        deal_id=adj.deal_id, stream_id="deal", type="EventReversed", schema_version=1,
        data={"reversed_event_id": adj.event_id, "reversed_type": "CollectionReceived",
              "reason": "x", "reversed_data": {}, "reversed_entries": []},
        effective_date=adj.effective_date, idempotency_key="forged", actor="mallory",
        role="servicer",
    )  # fmt: skip
    with pytest.raises(PolicyError, match="but that event is a AdjustmentPosted"):
        store.append([forged])
    assert store.head(adj.deal_id)[0] == adj.deal_seq


def test_identity_names_and_roles() -> None:
    assert Identity.parse("alice:trustee") == Identity("alice", "trustee")
    for bad in ("alice", "alice:admin", ":trustee", "al ice:trustee", "a\x00b:servicer"):
        with pytest.raises(ValueError):
            Identity.parse(bad)


def test_the_cli_acts_as_someone_named(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--as`` (on the command or on ``trust-ledger``), else ``$TRUST_LEDGER_AS``, else the
    config file; nobody named is a usage error; the policy holds for the CLI as for the API."""
    from typer.testing import CliRunner

    from ledger.cli.main import app
    from tests.test_boarding import BYD_FILE

    runner = CliRunner()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TRUST_LEDGER_AS", raising=False)
    load = ["--db", db_url, "deal", "load", str(BYD_FILE)]
    nobody = runner.invoke(app, load)
    assert nobody.exit_code == 2 and "who acts?" in nobody.output
    refused = runner.invoke(app, [*load, "--as", "ops:servicer"])
    assert refused.exit_code == 1 and "rule DealDefined: posted by trustee" in refused.output
    assert runner.invoke(app, [*load, "--as", "ops:admin"]).exit_code == 2
    (tmp_path / "config" / "trust-ledger").mkdir(parents=True)
    (tmp_path / "config" / "trust-ledger" / "config.toml").write_text('as = "cfg:trustee"\n')
    assert runner.invoke(app, load).exit_code == 0
    monkeypatch.setenv("TRUST_LEDGER_AS", "env:trustee")
    r = runner.invoke(app, ["--db", db_url, "--as", "flag:trustee", "cycle", "issue-notes",
                            "--deal", "byd_2021_2", "--closing-date", "2021-09-15"])  # fmt: skip
    assert r.exit_code == 0, r.output
    from events import db as dbm

    engine = dbm.make_engine(db_url)
    store = ProjectedStore(engine)
    actors = [(e.type, e.actor) for e in store.read("byd_2021_2")]
    engine.dispose()
    assert actors == [("DealDefined", "cfg"), ("NotesIssued", "flag")]
