"""Per-item seeds: every random choice made for one item (a request, a passage, a document) is seeded here.

    rng = random.Random(derived_seed(seed, doc.id, "interleave"))
    voice = pool[derived_seed(seed, request.id, "voice") % len(pool)]

A seed derived from (run seed, item id, purpose) does not depend on the order of the items, on
how they are sharded across workers or machines, or on PYTHONHASHSEED; the purpose keeps the
draws of one item for different choices (its voice, its augmentation, ...) independent.
"""

from __future__ import annotations

import hashlib


def derived_seed(seed: int, item_id: str, purpose: str) -> int:
    """A 63-bit seed from (run seed, item id, purpose): independent of order, sharding and workers."""
    digest = hashlib.sha256(f"{purpose}\0{seed}\0{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1
