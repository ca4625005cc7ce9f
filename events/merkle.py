"""A Merkle tree over event hashes (RFC 6962 §2.1), for period seals and inclusion proofs.

Leaves are the events' chain hashes in deal-sequence order. A leaf is ``SHA-256(0x00 || hash)``
and an inner node ``SHA-256(0x01 || left || right)``, so a leaf can never pass for a node; a
tree of ``n`` leaves splits at the largest power of two below ``n``. The root over a period's
events changes if any of them is altered, removed, added or moved, and an inclusion proof of
about log2(n) hashes shows one event is in a sealed period without the rest of the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def _leaf(event_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(event_hash)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes]) -> bytes:
    # bottom-up, level by level: the same tree as the recursive definition (the last node of an
    # odd level is carried up unchanged), without recursion depth on large periods
    level = list(leaves)
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root(event_hashes: Sequence[str]) -> str:
    """The root (hex) over ``event_hashes`` in order; the hash of nothing for no event."""
    if not event_hashes:
        return EMPTY_ROOT
    return _root([_leaf(h) for h in event_hashes]).hex()


def inclusion_proof(event_hashes: Sequence[str], index: int) -> list[str]:
    """The audit path (hex, leaf to root) of the event at ``index`` among ``event_hashes``."""
    if not 0 <= index < len(event_hashes):
        raise IndexError(f"event {index} is not among the {len(event_hashes)} sealed")
    leaves = [_leaf(h) for h in event_hashes]
    path: list[bytes] = []
    lo, hi, i = 0, len(leaves), index
    # descend from the root: at each split keep the side holding the leaf, record the other
    while hi - lo > 1:
        k = _split(hi - lo)
        if i - lo < k:
            path.append(_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(_root(leaves[lo : lo + k]))
            lo = lo + k
    return [p.hex() for p in reversed(path)]


def root_from_proof(event_hash: str, index: int, size: int, proof: Sequence[str]) -> str | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None if the proof does not
    fit a tree of ``size`` leaves."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = _leaf(event_hash)
    for p in proof:
        if sn == 0:
            return None
        sibling = bytes.fromhex(p)
        if fn % 2 == 1 or fn == sn:
            r = _node(sibling, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, sibling)
        fn >>= 1
        sn >>= 1
    return r.hex() if sn == 0 else None
