"""Queues drop the oldest item instead of growing; backoff grows and is bounded."""

from __future__ import annotations

import random
import threading

from edge.flow import Backoff, DropOldestQueue, StageStats


def test_queue_is_bounded_and_drops_oldest() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    results = [q.put(i) for i in range(10)]
    assert results[:3] == [True, True, True]
    assert results[3:] == [False] * 7
    assert len(q) == 3
    assert q.dropped == 7
    assert [q.get(0.01) for _ in range(3)] == [7, 8, 9]
    assert q.get(0.01) is None


def test_queue_wakes_consumer() -> None:
    q: DropOldestQueue[str] = DropOldestQueue(2)
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(q.get(5.0)))
    t.start()
    q.put("x")
    t.join(5)
    assert got == ["x"]


def test_backoff_doubles_with_jitter_up_to_max() -> None:
    b = Backoff(0.5, 4.0)
    rng = random.Random(1)
    delays = [b.next_delay(rng) for _ in range(8)]
    bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    for d, base in zip(delays, bases, strict=True):
        assert 0.5 * base <= d <= base
    b.reset()
    assert b.next_delay(rng) <= 0.5


def test_stage_stall_detection() -> None:
    st = StageStats("x")
    t0 = st.start_work()
    assert not st.stalled(t0 + 1.0, 2.0)
    assert st.stalled(t0 + 3.0, 2.0)
    st.done_work(t0)
    assert not st.stalled(st.heartbeat + 1.0, 2.0)
    snap = st.snapshot(st.heartbeat)
    assert snap["items"] == 1 and snap["p95_ms"] >= 0
