"""The label join's collections restore exactly what they held, from checkpoints that
encode only what changed; checked against a plain dict / OrderedDict model."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import msgspec
import pytest

from monitor import label_state
from monitor.label_state import Decision, ExpiredKeys, WaitingDecisions


def round_trip(saved: Any) -> Any:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(saved))


def decision(n: int) -> Decision:
    return Decision(1000.0 + n, str(n % 3), 0, n)


def values(items: Any) -> list[tuple[Any, ...]]:
    """Keys and decisions, without the checkpoint bookkeeping (which segment holds one)."""
    return [(key, d.ts, d.predicted, d.partition, d.offset) for key, d in items]


@pytest.mark.parametrize("seed", range(6))
def test_waiting_decisions_restore_what_a_dict_holds(seed: int) -> None:
    rng = random.Random(seed)
    model: dict[tuple[str, str], Decision] = {}  # the plain dict the join used to keep
    waiting = WaitingDecisions()
    for step in range(3000):
        key = ("m", f"e{rng.randrange(400)}")
        roll = rng.random()
        if roll < 0.05:  # a batch of decisions, the way the label join puts them
            keys = [("m", f"e{rng.randrange(400)}") for _ in range(rng.randrange(1, 6))]
            batch = [decision(step * 10 + i) for i in range(len(keys))]
            stamps = [d.ts for d in batch]
            predicted = [d.predicted for d in batch]
            partitions = [d.partition for d in batch]
            offsets = [d.offset for d in batch]
            new = not (set(keys) & set(model)) and len(set(keys)) == len(keys)
            assert waiting.put_new(keys, stamps, predicted, partitions, offsets) == new
            for key, one in zip(keys, batch, strict=True):
                model.pop(key, None)
                model[key] = one
                if not new:
                    waiting.put(key, one)
        elif roll < 0.5:  # a decision, perhaps re-sent: it moves last
            model.pop(key, None)
            model[key] = decision(step)
            waiting.put(key, model[key])
        elif roll < 0.8:  # its label, or an expiry of the oldest
            if roll < 0.7 or not model:
                expected, got = model.pop(key, None), waiting.pop(key)
                assert (got is None) == (expected is None)
                if got is not None and expected is not None:
                    assert values([(key, got)]) == values([(key, expected)])
            else:
                count = rng.randrange(1, 4)
                oldest = list(model)[:count]
                for old_key in oldest:
                    del model[old_key]
                assert waiting.drop_oldest(count) == oldest
        elif roll < 0.86:  # a checkpoint, restored elsewhere
            restored = WaitingDecisions()
            restored.restore(round_trip(waiting.snapshot()))
            assert values(restored.items()) == values(model.items())
            if rng.random() < 0.5:
                waiting = restored  # a new owner goes on from the checkpoint
        assert values(waiting.items()) == values(model.items())


def test_a_checkpoint_encodes_only_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions are encoded once, when they arrive (or when a segment mostly left by
    label is re-encoded); a checkpoint compresses only the segment of the new ones."""
    encoded: list[int] = []  # decisions encoded
    compressed: list[int] = []  # chunks compressed into a segment
    chunk, compress = label_state._chunk, label_state._compress

    def counting_chunk(keys: list[Any], *columns: Any) -> bytes:
        encoded.append(len(keys))
        return chunk(keys, *columns)

    def counting_compress(chunks: list[bytes]) -> bytes:
        compressed.append(len(chunks))
        return compress(chunks)

    monkeypatch.setattr(label_state, "_chunk", counting_chunk)
    monkeypatch.setattr(label_state, "_compress", counting_compress)
    waiting = WaitingDecisions()
    waiting.put_new(
        [("m", f"e{n}") for n in range(10_000)],
        *[[getattr(decision(n), f) for n in range(10_000)] for f in label_state._FIELDS],
    )
    waiting.snapshot()
    assert (sum(encoded), compressed) == (10_000, [1])

    encoded.clear()
    compressed.clear()
    for n in range(10_000, 10_100):  # 100 new decisions, 50 labelled, 3 000 expired
        waiting.put(("m", f"e{n}"), decision(n))
    for n in range(5_000, 10_000, 100):
        waiting.pop(("m", f"e{n}"))
    assert waiting.drop_oldest(3_000) == [("m", f"e{n}") for n in range(3_000)]
    saved = round_trip(waiting.snapshot())
    assert (encoded, compressed) == ([100], [1])  # the new ones, put one by one: one chunk
    assert [(dropped, sum(map(len, gone))) for _, dropped, gone in saved] == [(3_000, 50), (0, 0)]

    for n in range(3_000, 8_000):  # labelled: more of it left by label than is left
        waiting.pop(("m", f"e{n}"))
    encoded.clear()
    compressed.clear()
    waiting.snapshot()
    assert (encoded, compressed) == ([2_000 - 20], [1])  # re-encoded: what is left
    waiting.drop_oldest(len(waiting))
    assert round_trip(waiting.snapshot()) == []


def test_without_checkpoints_what_is_kept_stays_bounded() -> None:
    """Replay takes no checkpoints: decisions that expired long ago must not be kept in
    their encoded form either."""
    waiting = WaitingDecisions()
    for start in range(0, 400_000, 5_000):
        keys = [("m", f"e{n}") for n in range(start, start + 5_000)]
        columns = [
            [getattr(decision(n), f) for n in range(start, start + 5_000)]
            for f in label_state._FIELDS
        ]
        assert waiting.put_new(keys, *columns)
        waiting.drop_oldest(max(0, len(waiting) - 20_000))  # max_pending 20 000
        kept = sum(len(s.keys) for s in waiting._segments) + sum(map(len, waiting._chunk_keys))
        assert kept <= 20_000 + 2 * 50_000  # live ones, and at most two seals behind
    restored = WaitingDecisions()
    restored.restore(round_trip(waiting.snapshot()))
    assert values(restored.items()) == values(waiting.items())


@pytest.mark.parametrize("seed", range(4))
def test_expired_keys_restore_what_a_bounded_ordered_dict_holds(seed: int) -> None:
    rng = random.Random(seed)
    limit = 50
    model: OrderedDict[tuple[str, str], None] = OrderedDict()
    expired = ExpiredKeys(limit)
    for _ in range(2000):
        if rng.random() < 0.9:
            key = ("m", f"e{rng.randrange(300)}")
            expired.add(key)
            model[key] = None  # an existing key keeps its place
            if len(model) > limit:
                model.popitem(last=False)
        else:
            restored = ExpiredKeys(limit)
            restored.restore(round_trip(expired.snapshot()))
            assert list(restored) == list(model)
            if rng.random() < 0.5:
                expired = restored
        assert list(expired) == list(model)
        assert len(expired) == len(model)


def test_expired_keys_restore_the_plain_list_of_earlier_versions() -> None:
    expired = ExpiredKeys(3)
    expired.restore([["m", "a"], ["m", "b"], ["n", "c"], ["n", "d"]])
    assert list(expired) == [("m", "b"), ("n", "c"), ("n", "d")]
    assert ("m", "a") not in expired
