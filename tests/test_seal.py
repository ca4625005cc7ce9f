"""Sealed payment periods and signed receipts (SPEC §2.2, issue 14 item 2), on both backends.

``run-due`` seals each payment date it posts (:class:`~events.seal.PeriodSealed`: the chain head
and a Merkle root over the period's events); events effective in a sealed period are refused.
``seal keygen`` / ``seal export`` write the trustee's key and signed receipts; ``verify
--receipts`` then detects, and names, each way of rewriting the ledger that ``verify`` alone
cannot see once every hash is recomputed: truncation with the chain head fixed, an edited amount
with every later hash (and seal) recomputed, re-ordered events, and a receipt re-signed with
another key. An edited projection row is caught by the replay. ``verify --event --receipt``
proves one distribution is in a sealed period.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from events.envelope import RecordedEvent
from events.guard import SealedPeriodError
from events.hashing import GENESIS
from events.merkle import EMPTY_ROOT, inclusion_proof, merkle_root, root_from_proof
from events.seal import latest_seal
from events.tables import chain_heads, events
from events.verify import recompute_hash
from ledger.audit.verify import verify
from ledger.cli.main import app
from ledger.cycle.walk import run_due
from ledger.deal import DealDefinition
from ledger.servicing.operator import post_event, reverse_event
from projections.store import ProjectedStore
from tests.conftest import owner_execute, tampering
from tests.helpers import TRUSTEE
from tests.test_cycle import seed_deal

runner = CliRunner()
UNTIL = dt.date(2021, 12, 31)


# ------------------------------------------------------------------------------ Merkle tree


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70), st.data())
def test_every_inclusion_proof_leads_to_the_root(leaves: list[bytes], data: Any) -> None:
    hashes = [b.hex() for b in leaves]
    root = merkle_root(hashes)
    i = data.draw(st.integers(0, len(hashes) - 1))
    proof = inclusion_proof(hashes, i)
    assert len(proof) <= max(1, len(hashes) - 1).bit_length()
    assert root_from_proof(hashes[i], i, len(hashes), proof) == root
    # another leaf, another place or another tree size does not
    other = "00" * 32 if hashes[i] != "00" * 32 else "11" * 32
    assert root_from_proof(other, i, len(hashes), proof) != root
    if len(hashes) > 1:
        j = (i + 1) % len(hashes)
        assert hashes[j] == hashes[i] or root_from_proof(hashes[i], j, len(hashes), proof) != root
        swapped = hashes.copy()
        swapped[i], swapped[j] = swapped[j], swapped[i]
        assert swapped == hashes or merkle_root(swapped) != root
        assert merkle_root(hashes[:-1]) != root


def test_merkle_root_follows_rfc_6962() -> None:
    import hashlib

    a, b, c = ("aa" * 32, "bb" * 32, "cc" * 32)

    def leaf(h: str) -> bytes:
        return hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest()

    def node(x: bytes, y: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + x + y).digest()

    assert merkle_root([]) == EMPTY_ROOT
    assert merkle_root([a]) == leaf(a).hex()
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c)).hex()


# ------------------------------------------------------------------------------ the ledger


@pytest.fixture
def sealed(store: ProjectedStore, tmp_path: Path) -> DealDefinition:
    deal = seed_deal(store, tmp_path, "004_byd_2021_2.yaml", dt.date(2021, 9, 15), {2: 2})
    results = run_due(store, deal.deal_id, UNTIL, who=TRUSTEE)
    assert [r.status for r in results] == ["posted"] * 3
    return deal


def _seals(store: ProjectedStore, deal_id: str) -> list[RecordedEvent]:
    return list(store.read(deal_id, types=["PeriodSealed"]))


def test_each_payment_date_posted_is_sealed(store: ProjectedStore, sealed: DealDefinition) -> None:
    deal_id = sealed.deal_id
    seals = _seals(store, deal_id)
    closed = list(store.read(deal_id, types=["CollectionPeriodClosed"]))
    assert [s.data["payment_date"] for s in seals] == [c.data["payment_date"] for c in closed]
    everything = list(store.read(deal_id))
    first = 1
    for s in seals:
        d = s.data
        before = everything[s.deal_seq - 2]
        assert (d["head_seq"], d["head_hash"]) == (before.deal_seq, before.hash)
        assert d["first_seq"] == first
        sealed_hashes = [e.hash for e in everything[first - 1 : s.deal_seq - 1]]
        assert d["merkle_root"] == merkle_root(sealed_hashes)
        assert (s.actor, s.role) == (TRUSTEE.name, "trustee")
        first = s.deal_seq
    # a rerun posts and seals nothing new
    assert run_due(store, deal_id, UNTIL, who=TRUSTEE) == []
    assert len(_seals(store, deal_id)) == len(seals)
    assert all(r.ok for r in verify(store, deal_id))


def test_events_in_a_sealed_period_are_refused(
    store: ProjectedStore, sealed: DealDefinition
) -> None:
    deal_id = sealed.deal_id
    with store.engine.connect() as conn:
        seal = latest_seal(conn, deal_id)
    assert seal is not None
    through = dt.date.fromisoformat(seal["sealed_through"])
    head = store.head(deal_id)
    adjustment = {
        "entry": {"postings": [{"account": "trust:income", "amount": "1.00"},
                               {"account": "equity:seller", "amount": "-1.00"}]},
        "reason": "late",
    }  # fmt: skip
    with pytest.raises(SealedPeriodError, match=f"sealed through {through}"):
        post_event(store, "AdjustmentPosted", deal_id, adjustment, "t", "trustee",
                   effective_date=through)  # fmt: skip
    assert store.head(deal_id) == head
    after = post_event(store, "AdjustmentPosted", deal_id, adjustment, "t", "trustee",
                       effective_date=through + dt.timedelta(days=1))  # fmt: skip
    assert after.deal_seq == head[0] + 1
    # a correction of a sealed event is dated in the open period by default
    collection = next(iter(store.read(deal_id, types=["CollectionReceived"])))
    assert collection.effective_date <= through
    reversal = reverse_event(store, deal_id, collection.event_id, "bounced", "s", "servicer")
    assert reversal.effective_date == through + dt.timedelta(days=1)
    with pytest.raises(SealedPeriodError):
        reverse_event(store, deal_id, after.event_id, "typo", "t", "trustee",
                      effective_date=collection.effective_date)  # fmt: skip


# ------------------------------------------------------------------------------ receipts


def cli(db_url: str, *args: str) -> Result:
    return runner.invoke(app, ["--db", db_url, *args])


@pytest.fixture
def receipts(db_url: str, sealed: DealDefinition, tmp_path: Path) -> Path:
    key = tmp_path / "keys" / "trustee.key"
    key.parent.mkdir()
    r = cli(db_url, "seal", "keygen", "--out", str(key))
    assert r.exit_code == 0, r.output
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "trustee.key.pub").is_file()
    assert cli(db_url, "seal", "keygen", "--out", str(key)).exit_code == 1  # never overwritten
    out = tmp_path / "receipts"
    r = cli(db_url, "seal", "export", "--deal", sealed.deal_id, "--all", "--key", str(key),
            "--out", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 3
    doc = json.loads(files[0].read_text())
    assert {"deal_id", "payment_date", "head_seq", "head_hash", "merkle_root", "signature"} <= set(
        doc
    )
    return out


def _verify(db_url: str, deal_id: str, folder: Path, *more: str) -> Result:
    key = folder.parent / "keys" / "trustee.key.pub"
    return cli(db_url, "verify", "--deal", deal_id, "--receipts", str(folder),
               "--public-key", str(key), *more)  # fmt: skip


def _rewrite(
    store: ProjectedStore, deal_id: str, change: Callable[[list[RecordedEvent]], None]
) -> None:
    """What an attacker with the owner's rights does: change the events (``change`` edits the
    list in place), then recompute every hash, every seal's head and root and the chain head so
    that the chain checks out, and rebuild the projections from the forged history."""
    old = list(store.read(deal_id))
    forged = list(old)
    change(forged)
    prev, first = GENESIS, 1
    hashes: list[str] = []
    rows: list[RecordedEvent] = []
    for i, e in enumerate(forged, start=1):
        data = dict(e.data)
        if e.type == "PeriodSealed":
            data.update(first_seq=first, head_seq=i - 1, head_hash=prev,
                        merkle_root=merkle_root(hashes[first - 1 :]))  # fmt: skip
            first = i
        e = e._replace(deal_seq=i, position=old[i - 1].position, data=data, prev_hash=prev,
                       model_cache=[])  # fmt: skip
        e = e._replace(hash=recompute_hash(e))
        rows.append(e)
        hashes.append(e.hash)
        prev = e.hash
    with tampering(store.engine) as conn:
        conn.execute(events.delete().where(events.c.deal_id == deal_id))
        conn.execute(events.insert(), [{c.name: getattr(r, c.name) for c in events.columns}
                                       for r in rows])  # fmt: skip
        conn.execute(
            chain_heads.update()
            .where(chain_heads.c.deal_id == deal_id)
            .values(last_seq=rows[-1].deal_seq, last_hash=rows[-1].hash)
        )
    store.rebuild_live(deal_id)
    assert all(r.ok for r in verify(store, deal_id)), "the forgery passes verify alone"


def _edit_amount(forged: list[RecordedEvent]) -> None:
    i = next(i for i, e in enumerate(forged) if e.type == "CollectionReceived")
    data = dict(forged[i].data)
    data["interest"] = "1.00" if data["interest"] != "1.00" else "2.00"
    forged[i] = forged[i]._replace(data=data)


def _reorder(forged: list[RecordedEvent]) -> None:
    i = next(i for i, e in enumerate(forged) if e.type == "CollectionReceived")
    j = next(j for j in range(i + 1, len(forged)) if forged[j].stream_id != forged[i].stream_id)
    forged[i], forged[j] = forged[j], forged[i]


def _truncate(forged: list[RecordedEvent]) -> None:
    del forged[-5:]


@pytest.mark.parametrize(
    ("tamper", "detected", "failed"),
    [
        (_truncate, "truncated: the ledger ends at seq", [2]),
        (_edit_amount, "rewritten: the Merkle root over seq 1-", [0, 1, 2]),
        (_reorder, "rewritten: the Merkle root over seq 1-", [0, 1, 2]),
    ],
    ids=["delete-last-and-fix-head", "edit-and-recompute-every-hash", "reorder"],
)
def test_receipts_detect_a_rewritten_history(
    db_url: str,
    store: ProjectedStore,
    sealed: DealDefinition,
    receipts: Path,
    tamper: Callable[[list[RecordedEvent]], None],
    detected: str,
    failed: list[int],
) -> None:
    deal_id = sealed.deal_id
    ok = _verify(db_url, deal_id, receipts)
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("matches the ledger") == 3
    _rewrite(store, deal_id, tamper)
    assert cli(db_url, "verify", "--deal", deal_id).exit_code == 0  # the chain alone is fooled
    caught = _verify(db_url, deal_id, receipts)
    assert caught.exit_code == 1
    assert detected in caught.output
    for i, receipt in enumerate(sorted(receipts.glob("*.json"))):  # each receipt is named
        assert (f"{receipt}: FAILED" in caught.output) == (i in failed), receipt


def test_an_edited_projection_row_is_caught_by_the_replay(
    db_url: str, store: ProjectedStore, sealed: DealDefinition, receipts: Path
) -> None:
    owner_execute(
        store.engine,
        "UPDATE projection_rows SET value = :v WHERE deal_id = :d AND projection = 'balances' "
        "AND key = 'trust:income'",
        v=json.dumps({"balance": "1.00"}),
        d=sealed.deal_id,
    )
    r = _verify(db_url, sealed.deal_id, receipts)
    assert r.exit_code == 1 and "replay differs from live" in r.output


def test_a_receipt_resigned_with_another_key_is_named(
    db_url: str, sealed: DealDefinition, receipts: Path, tmp_path: Path
) -> None:
    from ledger.audit.receipts import Receipt, load_private_key, receipt_of  # noqa: F401

    other = tmp_path / "other.key"
    assert cli(db_url, "seal", "keygen", "--out", str(other)).exit_code == 0
    elsewhere = tmp_path / "forged"
    assert cli(db_url, "seal", "export", "--deal", sealed.deal_id, "--all", "--key", str(other),
               "--out", str(elsewhere)).exit_code == 0  # fmt: skip
    victim = sorted(receipts.glob("*.json"))[1]
    victim.write_bytes((elsewhere / victim.name).read_bytes())
    r = _verify(db_url, sealed.deal_id, receipts)
    assert r.exit_code == 1
    assert f"{victim}: FAILED" in r.output and "not signed by the trustee's key" in r.output
    # without the public key, the odd one out is still named
    alone = cli(db_url, "verify", "--deal", sealed.deal_id, "--receipts", str(receipts))
    assert alone.exit_code == 1 and f"{victim}: FAILED" in alone.output
    # a signature moved from another receipt does not verify either
    doc = json.loads(sorted(receipts.glob("*.json"))[0].read_text())
    doc["signature"] = json.loads(sorted(receipts.glob("*.json"))[2].read_text())["signature"]
    sorted(receipts.glob("*.json"))[0].write_text(json.dumps(doc))
    r = _verify(db_url, sealed.deal_id, receipts)
    assert r.output.count("FAILED") == 2


def test_inclusion_proof_of_one_distribution(
    db_url: str, store: ProjectedStore, sealed: DealDefinition, receipts: Path
) -> None:
    deal_id = sealed.deal_id
    paid = next(iter(store.read(deal_id, types=["DistributionPaid"])))
    receipt = next(
        f for f in sorted(receipts.glob("*.json"))
        if json.loads(f.read_text())["payment_date"] == paid.data["payment_date"]
    )  # fmt: skip
    key = receipts.parent / "keys" / "trustee.key.pub"
    r = cli(db_url, "verify", "--event", paid.event_id, "--receipt", str(receipt),
            "--public-key", str(key))  # fmt: skip
    assert r.exit_code == 0, r.output
    proof = json.loads(r.stdout)
    assert proof["included"] is True and proof["event"]["type"] == "DistributionPaid"
    assert (
        root_from_proof(proof["event_hash"], proof["index"], proof["size"], proof["path"])
        == (json.loads(receipt.read_text())["merkle_root"])
    )
    # the distribution's amount edited as the owner: the proof no longer leads to the root
    data = dict(paid.data)
    data["payments"] = data["payments"][1:]
    owner_execute(
        store.engine,
        "UPDATE events SET data = :d WHERE event_id = :e",
        d=json.dumps(data), e=paid.event_id,
    )  # fmt: skip
    r = cli(db_url, "verify", "--event", paid.event_id, "--receipt", str(receipt))
    assert r.exit_code == 1 and "NOT what" in r.output
    # an event of another period is not in this receipt
    late = list(store.read(deal_id))[-1]
    r = cli(db_url, "verify", "--event", late.event_id, "--receipt", str(receipt))
    assert r.exit_code == 1 and "outside the period sealed" in r.output


def test_export_refuses_to_sign_a_ledger_that_no_longer_matches_its_seal(
    db_url: str, store: ProjectedStore, sealed: DealDefinition, receipts: Path
) -> None:
    first = next(iter(store.read(sealed.deal_id, types=["CollectionReceived"])))
    data = dict(first.data) | {"interest": "0.01"}
    with tampering(store.engine) as conn:
        conn.execute(sa.update(events).where(events.c.event_id == first.event_id).values(data=data))
    key = receipts.parent / "keys" / "trustee.key"
    r = cli(db_url, "seal", "export", "--deal", sealed.deal_id, "--payment-date", "2021-10-26",
            "--key", str(key), "--out", str(receipts))  # fmt: skip
    assert r.exit_code == 1 and "no longer matches" in r.output
    r = cli(db_url, "seal", "export", "--deal", sealed.deal_id, "--payment-date", "2030-01-01",
            "--key", str(key), "--out", str(receipts))  # fmt: skip
    assert r.exit_code == 1 and "sealed payment dates: 2021-10-26" in r.output
    os.chmod(key, 0o644)
    r = cli(db_url, "seal", "export", "--deal", sealed.deal_id, "--all", "--key", str(key),
            "--out", str(receipts))  # fmt: skip
    assert r.exit_code == 1 and "too open" in r.output


def test_a_crash_between_a_cycle_and_its_seal_is_sealed_by_the_next_run(
    store: ProjectedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.cycle.walk as walk
    from ledger.cycle.seal import seal_period as real

    deal = seed_deal(store, tmp_path, "004_byd_2021_2.yaml", dt.date(2021, 9, 15), {})
    calls = {"n": 0}

    def dies_at_the_second(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed between the cycle and its seal")
        return real(*args, **kwargs)

    monkeypatch.setattr(walk, "seal_period", dies_at_the_second)
    with pytest.raises(RuntimeError, match="killed"):
        run_due(store, deal.deal_id, dt.date(2021, 11, 30), who=TRUSTEE)
    monkeypatch.undo()
    assert [s.data["payment_date"] for s in _seals(store, deal.deal_id)] == ["2021-10-26"]
    assert run_due(store, deal.deal_id, dt.date(2021, 11, 30), who=TRUSTEE) == []
    seals = _seals(store, deal.deal_id)
    assert [s.data["payment_date"] for s in seals] == ["2021-10-26", "2021-11-26"]
    assert seals[-1].data["head_seq"] == seals[-1].deal_seq - 1
    assert all(r.ok for r in verify(store, deal.deal_id))


def test_a_seal_that_does_not_continue_the_chain_is_refused(
    store: ProjectedStore, sealed: DealDefinition
) -> None:
    from events.envelope import NewEvent
    from events.seal import PeriodSealed

    deal_id = sealed.deal_id
    head_seq, head_hash = store.head(deal_id)
    last = _seals(store, deal_id)[-1].data

    def seal(**change: Any) -> NewEvent:
        fields: dict[str, Any] = {
            "payment_date": dt.date(2022, 1, 26), "sealed_through": dt.date(2021, 12, 31),
            "first_seq": last["head_seq"] + 1, "head_seq": head_seq, "head_hash": head_hash,
            "merkle_root": "ab" * 32,
        } | change  # fmt: skip
        return NewEvent.of(
            PeriodSealed(**fields), deal_id=deal_id, stream_id="seal",
            effective_date=dt.date(2022, 1, 26), idempotency_key=f"forged-{sorted(change)}",
            actor="t", role="trustee",
        )  # fmt: skip

    with pytest.raises(SealedPeriodError, match="the chain moved"):
        store.append([seal(head_hash="cd" * 32)])
    with pytest.raises(SealedPeriodError, match="starts at seq 1"):
        store.append([seal(first_seq=1, sealed_through=dt.date(2021, 12, 31))])
    with pytest.raises(SealedPeriodError, match="not after the previous seal"):
        store.append([seal(sealed_through=dt.date(2021, 11, 30), head_hash=head_hash)])
    assert store.head(deal_id) == (head_seq, head_hash)
