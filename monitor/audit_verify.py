"""``driftd audit verify``: check audit chains and report the first break.

Records are read in stored order (topic offsets, or file lines) and grouped by ``chain``.
Within a chain, each record must

1. hash to its own ``hash`` (else it was modified), and
2. either follow the previous one (``seq`` one more, ``prev_hash`` its hash), or be a
   **re-send**: after a crash the daemon restores a task from its last checkpoint and
   processes the same input again, writing records it had already written. A re-send has a
   ``seq`` already seen, links to the record before it on the current branch (``prev_hash``
   equals that record's hash), and has the same content as the record first seen at that
   ``seq``, ignoring ``processed_at`` and the chain links. The chain then continues from it.

Anything else is a break: a missing record (``seq`` skips, or ``prev_hash`` names no
record), a modified one (hash mismatch), a re-sent ``seq`` with other content, a record
that cannot be decoded. The first record of a chain in the range is taken as its anchor
(unless it is ``seq`` 0, whose ``prev_hash`` must be the genesis hash), so a range that
starts mid-chain can be checked; a chain's end cannot be proved complete by the chain
itself (compare the last ``seq`` with the task checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from monitor.audit import GENESIS, canonical, record_hash, sha256
from monitor.errors import DriftdError

_LINKS = ("hash", "prev_hash", "processed_at")


@dataclass(slots=True)
class Stored:
    """One stored record and where it is: ``topic[partition]@offset`` or ``file:line``."""

    where: str
    value: bytes


@dataclass(slots=True)
class Break:
    where: str
    chain: str | None
    seq: int | None
    reason: str


@dataclass(slots=True)
class _Chain:
    last_seq: int
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> hash on the current branch
    content: dict[int, str] = field(default_factory=dict)  # seq -> content digest, first seen


@dataclass(slots=True)
class Verification:
    records: int = 0
    resends: int = 0
    chains: dict[str, int] = field(default_factory=dict)  # chain -> last seq
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def summary(self) -> str:
        head = f"{self.records} record(s) in {len(self.chains)} chain(s), {self.resends} re-send(s)"
        if self.broken is None:
            return f"OK: {head}"
        b = self.broken
        at = f"chain {b.chain} seq {b.seq}" if b.chain is not None else "unknown chain"
        return f"BROKEN at {b.where} ({at}): {b.reason}\n  checked before it: {head}"


def content_digest(record: dict[str, Any]) -> str:
    return sha256(canonical({k: v for k, v in record.items() if k not in _LINKS}))


def verify(stored: Iterable[Stored]) -> Verification:
    result = Verification()
    chains: dict[str, _Chain] = {}
    for item in stored:
        problem, chain_name, seq = _check(item, chains, result)
        if problem is not None:
            result.broken = Break(item.where, chain_name, seq, problem)
            return result
        result.records += 1
    result.chains = {name: chain.last_seq for name, chain in chains.items()}
    return result


def _check(
    item: Stored, chains: dict[str, _Chain], result: Verification
) -> tuple[str | None, str | None, int | None]:
    try:
        record = msgspec.json.decode(item.value)
    except msgspec.DecodeError as exc:
        return f"not JSON: {exc}", None, None
    if not isinstance(record, dict) or not {"chain", "seq", "prev_hash", "hash"} <= set(record):
        return "not an audit record (chain, seq, prev_hash, hash missing)", None, None
    name, seq, prev = str(record["chain"]), record["seq"], record["prev_hash"]
    if not isinstance(seq, int):
        return "seq is not an integer", name, None
    if record_hash(record) != record["hash"]:
        return "hash mismatch: the record was modified", name, seq
    digest = content_digest(record)
    chain = chains.get(name)
    if chain is None:
        if seq == 0 and prev != GENESIS:
            return "seq 0 does not start from the genesis hash", name, seq
        chains[name] = _Chain(seq, {seq: record["hash"]}, {seq: digest})
        return None, name, seq
    if seq == chain.last_seq + 1:
        if prev != chain.hashes[chain.last_seq]:
            return f"prev_hash is not the hash of seq {seq - 1}: a record is missing", name, seq
    elif seq <= chain.last_seq:
        before = GENESIS if seq == 0 else chain.hashes.get(seq - 1)
        if before is None or prev != before:
            return f"seq {seq} seen again but does not link to seq {seq - 1}", name, seq
    else:
        return f"seq {chain.last_seq + 1}..{seq - 1} missing", name, seq
    if seq in chain.content:  # written before: a re-send must say the same
        if chain.content[seq] != digest:
            return f"seq {seq} re-sent with different content", name, seq
        result.resends += 1
    chain.last_seq = seq
    chain.hashes[seq] = record["hash"]
    chain.content.setdefault(seq, digest)
    return None, name, seq


def from_file(path: str | Path) -> Iterator[Stored]:
    if not Path(path).is_file():
        raise DriftdError(f"{path}: no such file")
    with Path(path).open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield Stored(f"{path}:{number}", line.strip())


def from_topic(
    consumer: Any,
    topic: str,
    partitions: list[int] | None,
    start: int | None,
    stop: int | None,
    timeout_s: float = 30.0,
) -> Iterator[Stored]:
    """Records of ``topic`` in offset order per partition, ``start`` <= offset < ``stop``."""
    from monitor.topic_range import read_range  # noqa: PLC0415 - needs a broker

    for record in read_range(consumer, [topic], partitions, start, stop, timeout_s):
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        yield Stored(where, record.value or b"")
