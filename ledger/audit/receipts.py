"""Signed receipts of sealed periods, kept outside the ledger, and what they prove (SPEC §2.2).

A receipt is the trustee's signature (Ed25519) over one :class:`~events.seal.PeriodSealed`: the
deal, the payment date, the range of chain sequence numbers sealed, the chain head's hash, the
Merkle root over those events, and the seal event's own id and hash. The signed bytes are the
canonical JSON (:func:`events.hashing.canonical_bytes`) of every field but ``signature``.

:func:`check_receipts` proves the ledger still holds exactly what each receipt sealed. It
recomputes every event's hash from its stored content (so an edited row with its ``hash`` column
left alone counts as edited), and names each receipt the ledger no longer matches:

* **truncated** — the ledger ends before the receipt's head;
* **rewritten** — the event at the head, or the Merkle root over the period, differs (an edited,
  removed, inserted or re-ordered event, even with every later hash recomputed);
* **not signed by the trustee** — the signature does not verify under the public key given (a
  receipt re-signed with another key), or, without one, under the key the other receipts share.

An inclusion proof (:func:`inclusion`) shows one event is in a sealed period from the receipt
and about log2(n) hashes, without the rest of the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.envelope import RecordedEvent
from events.hashing import canonical_bytes
from events.merkle import inclusion_proof, merkle_root, root_from_proof
from events.seal import PeriodSealed
from events.verify import recompute_hash
from ledger.core.files import write_file
from projections.store import ProjectedStore

FORMAT: Literal["trust-ledger/seal-receipt/1"] = "trust-ledger/seal-receipt/1"
_HEX64 = r"^[0-9a-f]{64}$"


class ReceiptError(ValueError):
    """A key or a receipt that cannot be used; the message names the file and the reason."""


class Receipt(BaseModel):
    """One sealed period, as the trustee signed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["trust-ledger/seal-receipt/1"] = FORMAT
    deal_id: str
    payment_date: date
    sealed_through: date
    first_seq: int = Field(ge=1)
    head_seq: int = Field(ge=1)
    head_hash: str = Field(pattern=_HEX64)
    merkle_root: str = Field(pattern=_HEX64)
    seal_event_id: str
    seal_hash: str = Field(pattern=_HEX64)
    public_key: str = Field(description="the signer's Ed25519 public key, raw, base64")
    signature: str = Field(default="", description="Ed25519 over the other fields, base64")

    def signed_bytes(self) -> bytes:
        return canonical_bytes(self.model_dump(mode="json", exclude={"signature"}))

    def file_name(self) -> str:
        return f"{self.deal_id}-{self.payment_date.isoformat()}.receipt.json"


# ------------------------------------------------------------------------------------- keys


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def keygen(out: Path) -> tuple[Path, Path]:
    """A new Ed25519 key: the private key at ``out`` (PEM, mode 0600, never over an existing
    file) and the public key beside it at ``out.pub``."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub = out.with_name(out.name + ".pub")
    write_file(out, pem, mode=0o600, exclusive=True)
    write_file(pub, public_pem, mode=0o644, exclusive=True)
    return out, pub


def _read_key_file(path: Path, private: bool) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ReceiptError(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ReceiptError(f"{path}: not a regular file")
        if private and os.name == "posix" and mode & 0o077:
            raise ReceiptError(
                f"{path}: permissions {stat.S_IMODE(mode):04o} are too open for a private key; "
                f"chmod 600 {path}"
            )
        return fh.read()


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_key_file(path, True), password=None)
    except (ValueError, TypeError) as exc:
        raise ReceiptError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReceiptError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_key_file(path, False))
    except (ValueError, TypeError) as exc:
        raise ReceiptError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReceiptError(f"{path}: not an Ed25519 key")
    return key


def _receipt_key(receipt: Receipt) -> Ed25519PublicKey | None:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(receipt.public_key))
    except ValueError:
        return None


def signed_by(receipt: Receipt, key: Ed25519PublicKey) -> bool:
    """Whether the receipt's signature verifies under ``key``."""
    try:
        key.verify(base64.b64decode(receipt.signature), receipt.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------- the ledger side


@dataclass
class Chain:
    """A deal's chain as its content says it is: each event's hash recomputed from the stored
    row (read once, streamed: only hashes, ids and the seals are kept), and where a stored hash
    or link disagrees."""

    hashes: list[str] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)
    """Event id → sequence number."""
    seal_events: list[tuple[RecordedEvent, PeriodSealed]] = field(default_factory=list)
    broken: list[int] = field(default_factory=list)
    """Sequence numbers whose stored hash or previous-hash link is not what the content gives."""

    @classmethod
    def read(cls, store: ProjectedStore, deal_id: str) -> Chain:
        chain = cls()
        previous = None
        for e in store.read(deal_id):
            actual = recompute_hash(e)
            n = len(chain.hashes) + 1
            if e.deal_seq != n or e.hash != actual or (previous and e.prev_hash != previous):
                chain.broken.append(e.deal_seq)
            chain.hashes.append(actual)
            chain.seqs[e.event_id] = e.deal_seq
            previous = e.hash
            if e.type == "PeriodSealed":
                model = e.event
                assert isinstance(model, PeriodSealed)
                chain.seal_events.append((e, model))
        return chain

    def period(self, first: int, head: int) -> list[str] | None:
        """The recomputed hashes of events ``first`` to ``head`` (None when the ledger does not
        hold them all)."""
        if head > len(self.hashes):
            return None
        return self.hashes[first - 1 : head]


def mismatch(chain: Chain, receipt: Receipt) -> list[str]:
    """Every way the ledger no longer matches ``receipt`` (empty when it does)."""
    problems: list[str] = []
    last = len(chain.hashes)
    if receipt.head_seq > last:
        problems.append(
            f"truncated: the ledger ends at seq {last}, the receipt sealed through seq "
            f"{receipt.head_seq}"
        )
        return problems
    head_hash = chain.hashes[receipt.head_seq - 1]
    if head_hash != receipt.head_hash:
        problems.append(
            f"rewritten: the event at seq {receipt.head_seq} hashes to {head_hash[:16]}…, the "
            f"receipt sealed {receipt.head_hash[:16]}…"
        )
    hashes = chain.period(receipt.first_seq, receipt.head_seq) or []
    root = merkle_root(hashes)
    if root != receipt.merkle_root:
        broken = [s for s in chain.broken if receipt.first_seq <= s <= receipt.head_seq]
        where = f" (the chain breaks at seq {broken[0]})" if broken else ""
        problems.append(
            f"rewritten: the Merkle root over seq {receipt.first_seq}-{receipt.head_seq} is "
            f"{root[:16]}…, the receipt sealed {receipt.merkle_root[:16]}…{where}"
        )
    seal_seq = chain.seqs.get(receipt.seal_event_id)
    if seal_seq is None:
        problems.append(f"the seal event {receipt.seal_event_id} is not in the ledger")
    elif chain.hashes[seal_seq - 1] != receipt.seal_hash:
        problems.append(f"the seal event {receipt.seal_event_id} was altered")
    return problems


def receipt_of(
    chain: Chain, deal_id: str, seal: RecordedEvent, model: PeriodSealed, key: Ed25519PrivateKey
) -> Receipt:
    """The signed receipt of one seal, refused when the ledger no longer matches it."""
    receipt = Receipt(
        deal_id=deal_id,
        payment_date=model.payment_date,
        sealed_through=model.sealed_through,
        first_seq=model.first_seq,
        head_seq=model.head_seq,
        head_hash=model.head_hash,
        merkle_root=model.merkle_root,
        seal_event_id=seal.event_id,
        seal_hash=seal.hash,
        public_key=base64.b64encode(_raw(key.public_key())).decode(),
    )
    problems = mismatch(chain, receipt)
    if problems:
        raise ReceiptError(
            f"deal {deal_id} seal of {model.payment_date}: the ledger no longer matches it ("
            + "; ".join(problems)
            + "): not signed; run `verify`"
        )
    signature = base64.b64encode(key.sign(receipt.signed_bytes())).decode()
    return receipt.model_copy(update={"signature": signature})


def export_receipts(
    store: ProjectedStore,
    deal_id: str,
    payment_date: date | None,
    key_file: Path,
    out_dir: Path,
) -> list[Path]:
    """Sign and write the receipt of ``payment_date``'s seal (every seal when None) into
    ``out_dir`` (created if missing, its parent never), one file per sealed period."""
    key = load_private_key(key_file)
    chain = Chain.read(store, deal_id)
    seals = chain.seal_events
    if payment_date is not None:
        chosen = [(e, m) for e, m in seals if m.payment_date == payment_date]
        if not chosen:
            listed = ", ".join(m.payment_date.isoformat() for _, m in seals) or "none"
            raise ReceiptError(
                f"deal {deal_id} has no seal of {payment_date}; sealed payment dates: {listed}"
            )
        seals = chosen
    if not seals:
        raise ReceiptError(f"deal {deal_id} has no sealed period yet (run-due seals each one)")
    receipts = [receipt_of(chain, deal_id, e, m, key) for e, m in seals]
    if not out_dir.is_dir():
        if not out_dir.parent.is_dir():
            raise ReceiptError(f"{out_dir}: folder {out_dir.parent} does not exist")
        out_dir.mkdir(mode=0o755)
    return [
        write_file(out_dir / r.file_name(), (json.dumps(r.model_dump(mode="json"), indent=2,
                   sort_keys=True) + "\n").encode())
        for r in receipts
    ]  # fmt: skip


# ------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class ReceiptCheck:
    """One receipt file against the ledger: ``problems`` empty when the ledger matches it."""

    file: Path
    receipt: Receipt | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        what = (
            f"seal of {self.receipt.deal_id} {self.receipt.payment_date}"
            if self.receipt
            else "receipt"
        )
        if self.ok:
            return f"{self.file}: OK — {what} matches the ledger"
        return f"{self.file}: FAILED — {what}: " + "; ".join(self.problems)


def read_receipt(path: Path) -> Receipt:
    try:
        return Receipt.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ReceiptError(f"{path}: {exc.strerror}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ReceiptError(f"{path}: not a seal receipt: {where}: {first['msg']}") from None


def _signature_problem(
    receipt: Receipt, trusted: Ed25519PublicKey | None, shared: Ed25519PublicKey | None
) -> str | None:
    own = _receipt_key(receipt)
    if trusted is not None:
        if signed_by(receipt, trusted):
            return None
        return (
            f"not signed by the trustee's key {key_id(trusted)}"
            + (f" (signed as {key_id(own)})" if own is not None else "")
            + ": re-signed or altered"
        )
    if own is None or not signed_by(receipt, own):
        return "the signature does not verify: the receipt was altered"
    if shared is not None and _raw(own) != _raw(shared):
        return (
            f"signed by key {key_id(own)}, the other receipts by {key_id(shared)}: "
            "give --public-key to know which is the trustee's"
        )
    return None


def check_receipts(
    store: ProjectedStore,
    deal_id: str,
    paths: Sequence[Path],
    public_key: Ed25519PublicKey | None = None,
) -> list[ReceiptCheck]:
    """Each receipt of ``deal_id`` among ``paths`` against the ledger (see the module). Without
    ``public_key`` the receipts must verify under their own key and all share one."""
    chain = Chain.read(store, deal_id)
    receipts: list[tuple[Path, Receipt | None, list[str]]] = []
    for path in sorted(paths):
        try:
            read = read_receipt(path)
        except ReceiptError as exc:
            receipts.append((path, None, [str(exc).split(": ", 1)[1]]))
            continue
        if read.deal_id == deal_id:
            receipts.append((path, read, []))
    keys = [k for _, r, _ in receipts if r is not None and (k := _receipt_key(r)) is not None]
    counts: dict[bytes, int] = {}
    for k in keys:
        counts[_raw(k)] = counts.get(_raw(k), 0) + 1
    shared = max(keys, key=lambda k: counts[_raw(k)], default=None)
    out = []
    for path, r, problems in receipts:
        if r is not None:
            signature = _signature_problem(r, public_key, shared)
            problems = ([signature] if signature else []) + mismatch(chain, r)
        out.append(ReceiptCheck(path, r, tuple(problems)))
    return out


def inclusion(store: ProjectedStore, receipt: Receipt, event_id: str) -> dict[str, Any]:
    """The inclusion proof of ``event_id`` in the period ``receipt`` sealed: the event (as
    exported), its index among the sealed events, the audit path and whether it leads to the
    receipt's root. Raises :class:`ReceiptError` when the event is not in the sealed range."""
    chain = Chain.read(store, receipt.deal_id)
    event = store.get(receipt.deal_id, event_id)
    if event is None:
        raise ReceiptError(f"deal {receipt.deal_id} has no event {event_id}")
    if not receipt.first_seq <= event.deal_seq <= receipt.head_seq:
        raise ReceiptError(
            f"event {event_id} is seq {event.deal_seq}, outside the period sealed on "
            f"{receipt.payment_date} (seq {receipt.first_seq}-{receipt.head_seq})"
        )
    hashes = chain.period(receipt.first_seq, receipt.head_seq) or []
    index = event.deal_seq - receipt.first_seq
    leaf = chain.hashes[event.deal_seq - 1]
    size = receipt.head_seq - receipt.first_seq + 1
    path = inclusion_proof(hashes, index) if len(hashes) == size else []
    return {
        "event": event.export(),
        "event_hash": leaf,
        "index": index,
        "size": size,
        "path": path,
        "merkle_root": receipt.merkle_root,
        "included": root_from_proof(leaf, index, size, path) == receipt.merkle_root,
    }
