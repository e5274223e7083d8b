"""`affectd bench pipeline`: the whole daemon, every modality, against a real broker.

Runs `affectd run` as a child process on replayed video (capped at 15 fps,
640x480 and up), the shipped speech sample as a microphone and emulated BLE
wearables (130 Hz ECG, 4 Hz EDA) at real-time pace, publishing `state` every
50 ms to a Mosquitto it starts. A subscriber in this process measures, per
modality, sensing-to-publish latency: broker receipt (wall clock) minus the
time of the last input sample behind the estimate (`state.ts - age_s`). From
/proc it samples the child's CPU time and RSS every second; cold start is the
time from spawning the process to the first `state` message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.lab.broker import MosquittoBroker


def pipeline_config(tmp: str, port: int, video: Path | None, interval_s: float = 0.05,
                    stats_interval_s: float = 5.0, profile: str = "full", tiles: int = 1) -> Path:
    """Write the config of a whole-daemon run: file camera (unless `video` is None), file
    microphone (likewise), emulated H10 + EDA sensor over BLE, to 127.0.0.1:`port`."""
    from edge.lab.demo import demo_speech

    cfg = Path(tmp) / "bench.toml"
    av = video is not None
    cfg.write_text("\n".join([
        "[device]", 'id = "bench"', f'state_dir = "{tmp}/state"',
        "[mqtt]", 'host = "127.0.0.1"', f"port = {port}", "discovery = false",
        "[publish]", f"interval_s = {interval_s}", f"stats_interval_s = {stats_interval_s}",
        f'profile = "{profile}"',
        "[fusion]", "time_constant_s = 0.0",
        "[camera]", f"enabled = {str(av).lower()}", 'backend = "file"', f'path = "{video}"',
        "fps = 15.0", "[face]", f"tiles = {tiles}",
        "[microphone]", f"enabled = {str(av).lower()}", 'backend = "file"',
        f'path = "{demo_speech()}"',
        "[physio]", 'backend = "emulated"', "calibration_s = 10.0",
        'devices = ["polar_h10@A0:9E:1A:BE:00:01", "eda@E0:DA:00:BE:00:01"]',
        "[runtime]", 'log_level = "warning"', "threads = 2", "queue_size = 2",
    ]) + "\n")
    return cfg


def _proc_sample(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(ln.split()[1]) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
               if ln.startswith("VmRSS:")) / 1024.0
    return cpu, rss


def bench_pipeline(video: Path, seconds: float = 30.0, tiles: int = 1) -> dict[str, Any]:
    recv: list[tuple[float, dict[str, Any]]] = []
    stats: list[dict[str, Any]] = []
    lock = threading.Lock()
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        cfg = pipeline_config(tmp, broker.port, video, tiles=tiles)

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            now = time.time()
            payload = json.loads(msg.payload)
            with lock:
                (recv.append((now, payload)) if msg.topic.endswith("/state")
                 else stats.append(payload))

        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
        sub.on_message = on_message
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe([("affectd/bench/state", 0), ("affectd/bench/stats", 0)])
        sub.loop_start()
        t_spawn = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: list[tuple[float, float, float]] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end and proc.poll() is None:
            cpu, rss = _proc_sample(proc.pid)
            samples.append((time.monotonic(), cpu, rss))
            time.sleep(1.0)
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        sub.loop_stop()
        sub.disconnect()
    if not recv:
        raise SystemExit(f"affectd bench pipeline: no state received\n{err.decode()[-2000:]}")
    cold = recv[0][0] - t_spawn
    latency: dict[str, dict[str, float]] = {}
    for m in ("face", "voice", "physio"):
        # only the first state carrying each new estimate (its age dropped): later states
        # repeat the same estimate and would measure staleness, not latency
        lat, prev_input = [], None
        for t, p in recv:
            mod = p["modalities"].get(m, {})
            if not mod.get("present") or mod.get("age_s") is None:
                continue
            input_wall = p["ts"] - mod["age_s"]
            if prev_input is None or input_wall > prev_input + 0.04:  # age_s has 10 ms steps
                lat.append(1e3 * (t - input_wall))
            prev_input = input_wall
        if lat:
            latency[m] = {q: round(float(np.percentile(lat, v)), 1)
                          for q, v in (("p50", 50), ("p95", 95), ("p99", 99))}
    steady = [r for t, _, r in samples if t > samples[0][0] + seconds / 2]
    cpu_s = samples[-1][1] - samples[0][1]
    wall = samples[-1][0] - samples[0][0]
    last = stats[-1]["stages"] if stats else {}
    cam, face = last.get("camera:file", {}), last.get("face", {})
    faces = [p["modalities"].get("face", {}).get("faces") or 0 for _, p in recv]
    return {
        "seconds": seconds, "latency_ms": latency,
        "cpu_percent": round(100.0 * cpu_s / max(1e-9, wall) / (os.cpu_count() or 1), 1),
        "rss_peak_mb": round(max(r for _, _, r in samples), 1),
        "rss_steady_mb": round(float(np.median(steady)) if steady else 0.0, 1),
        "frames_analysed": int(face.get("items", 0)),
        "frames_dropped": int(cam.get("dropped", 0)),
        "cold_start_s": round(cold, 2), "states": len(recv),
        "faces_max": max(faces, default=0),
    }


def bench_biofeedback(seconds: float = 60.0) -> dict[str, Any]:
    """The `biofeedback` profile on the emulated H10 + EDA sensor: latency from the last
    sample of each physiology window to the broker's delivery of its message."""
    recv: list[tuple[float, dict[str, Any]]] = []
    lock = threading.Lock()
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        cfg = pipeline_config(tmp, broker.port, None, interval_s=1.0, profile="biofeedback")

        def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
            now = time.time()
            with lock:
                recv.append((now, json.loads(msg.payload)))

        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bio")
        sub.on_message = on_message
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe("affectd/bench/biofeedback", 0)
        sub.loop_start()
        proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(seconds)
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        sub.loop_stop()
        sub.disconnect()
    # one latency per window: the first message carrying it (later ones repeat it, older)
    lat, seen = [], set()
    for t, p in recv:
        if p.get("age_s") is None or p.get("hr_bpm") is None:
            continue
        window = round(p["ts"] - p["age_s"], 2)
        if window not in seen:
            seen.add(window)
            lat.append(1e3 * (t - (p["ts"] - p["age_s"])))
    if not lat:
        raise SystemExit(f"affectd bench biofeedback: no window received\n{err.decode()[-2000:]}")
    times = [t for t, p in recv if p.get("hr_bpm") is not None]
    return {"seconds": seconds, "windows": len(lat),
            "latency_ms": {q: round(float(np.percentile(lat, v)), 1)
                           for q, v in (("p50", 50), ("p95", 95), ("p99", 99))},
            "rate_hz": round((len(times) - 1) / max(1e-9, times[-1] - times[0]), 2)
            if len(times) > 1 else 0.0}
