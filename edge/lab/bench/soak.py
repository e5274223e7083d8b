"""`affectd bench soak`: run the whole daemon for a long time and fail on growth.

The daemon runs as a child process with the same inputs as `bench pipeline`
(looping video file, looping speech file, emulated H10 + EDA sensor over BLE)
against a Mosquitto this command starts. Every `sample_s` seconds it records
the child's RSS, open file descriptors and threads from /proc, and the queue
depth of every source from the daemon's own `stats` message. After a warm-up
(models loaded, buffers and allocator arenas filled) it judges the run:

- RSS: the median of the last three samples minus the median of the first three
  after warm-up must stay below `rss_bound_mb` (a trend, not one noisy sample);
- descriptors and threads: no sample after warm-up may exceed the largest value
  seen in the first window after warm-up (a leak grows without bound; a
  reconnect that opens and closes a socket does not);
- queues: never deeper than the configured `queue_size`;
- liveness: `state` messages keep arriving until the end.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.lab.bench.pipeline import pipeline_config
from edge.lab.broker import MosquittoBroker

QUEUE_SIZE = 2  # what pipeline_config sets


@dataclass
class SoakSample:
    """One reading of the daemon process."""

    t_s: float
    rss_mb: float
    fds: int
    threads: int
    queued: dict[str, int] = field(default_factory=dict)
    states: int = 0


def read_process(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, open descriptors, threads) of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(int(ln.split()[1]) for ln in status if ln.startswith("VmRSS:")) / 1024.0
    threads = next(int(ln.split()[1]) for ln in status if ln.startswith("Threads:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def judge(samples: list[SoakSample], warmup_s: float, rss_bound_mb: float) -> dict[str, Any]:
    """The verdict over the samples taken after warm-up."""
    after = [s for s in samples if s.t_s >= warmup_s]
    if len(after) < 4:
        return {"ok": False, "failures": ["too few samples after warm-up"]}
    head, tail = after[:3], after[-3:]
    rss_growth = float(np.median([s.rss_mb for s in tail]) - np.median([s.rss_mb for s in head]))
    fd_ref, th_ref = max(s.fds for s in head), max(s.threads for s in head)
    fd_max, th_max = max(s.fds for s in after), max(s.threads for s in after)
    q_max = max((max(s.queued.values(), default=0) for s in after), default=0)
    failures = []
    if rss_growth >= rss_bound_mb:
        failures.append(f"RSS grew {rss_growth:.1f} MB (bound {rss_bound_mb} MB)")
    if fd_max > fd_ref:
        failures.append(f"descriptors grew from {fd_ref} to {fd_max}")
    if th_max > th_ref:
        failures.append(f"threads grew from {th_ref} to {th_max}")
    if q_max > QUEUE_SIZE:
        failures.append(f"a queue held {q_max} items (size {QUEUE_SIZE})")
    stalled = [f"{a.t_s:.0f}-{b.t_s:.0f} s" for a, b in itertools.pairwise(after)
               if b.states <= a.states]
    if stalled:
        failures.append(f"no state published during {', '.join(stalled[:5])}")
    return {
        "ok": not failures, "failures": failures,
        "rss_growth_mb": round(rss_growth, 2), "rss_bound_mb": rss_bound_mb,
        "rss_after_warmup_mb": round(float(np.median([s.rss_mb for s in head])), 1),
        "rss_max_mb": round(max(s.rss_mb for s in after), 1),
        "fds": [min(s.fds for s in after), fd_max], "threads": [min(s.threads for s in after),
                                                                th_max],
        "queue_max": q_max,
    }


def bench_soak(video: Path, seconds: float, warmup_s: float = 180.0, sample_s: float = 60.0,
               rss_bound_mb: float = 5.0, progress: bool = True) -> dict[str, Any]:
    """Run the daemon for `warmup_s + seconds`, sampling every `sample_s`."""
    lock = threading.Lock()
    counts = {"states": 0}
    queued: dict[str, int] = {}
    samples: list[SoakSample] = []
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        cfg = pipeline_config(tmp, broker.port, video, interval_s=1.0,
                              stats_interval_s=min(60.0, max(1.0, sample_s / 2)))

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            with lock:
                if msg.topic.endswith("/state"):
                    counts["states"] += 1
                    return
                stages = json.loads(msg.payload).get("stages", {})
                queued.clear()
                queued.update({k: int(v["queued"]) for k, v in stages.items() if "queued" in v})

        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-sub")
        sub.on_message = on_message
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe([("affectd/bench/state", 0), ("affectd/bench/stats", 0)])
        sub.loop_start()
        proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        total = warmup_s + seconds
        try:
            while proc.poll() is None:
                t = time.monotonic() - t0
                rss, fds, threads = read_process(proc.pid)
                with lock:
                    samples.append(SoakSample(round(t, 1), round(rss, 1), fds, threads,
                                              dict(queued), counts["states"]))
                if progress:
                    print(f"soak {t / 60:5.1f}/{total / 60:.1f} min  rss {rss:6.1f} MB  "
                          f"fds {fds}  threads {threads}  states {counts['states']}  "
                          f"queued {dict(queued)}", file=sys.stderr, flush=True)
                if t >= total:
                    break
                time.sleep(min(sample_s, max(0.0, total - t)))
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
            sub.loop_stop()
            sub.disconnect()
    verdict = judge(samples, warmup_s, rss_bound_mb)
    if proc.returncode not in (0, -15) or (samples and samples[-1].t_s < total):
        verdict["ok"] = False
        verdict["failures"] = [*verdict.get("failures", []),
                               f"daemon exited early ({proc.returncode}): "
                               f"{err.decode(errors='replace')[-300:]}"]
    return {"seconds": seconds, "warmup_s": warmup_s, "sample_s": sample_s, **verdict,
            "samples": [asdict(s) for s in samples]}
