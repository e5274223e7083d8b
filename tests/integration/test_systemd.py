"""systemd integration: the unit verifies, and the notify protocol is driven through a
real NOTIFY_SOCKET datagram socket: READY after start-up, WATCHDOG pings that stop
while a pipeline stage is stalled and resume when it recovers, STOPPING at the end."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from edge.config import parse_settings
from edge.daemon import Daemon
from edge.lab.broker import MosquittoBroker
from edge.messages import ModalityEstimate, SourceItem
from edge.notify import Notifier
from edge.physio.analyzer import PhysioAnalyzer
from edge.sources.wearable.synthetic import SyntheticPhysioSource, SyntheticSettings

ROOT = Path(__file__).resolve().parents[2]


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (script/test installs systemd)")
    exe = shutil.which("affectd") or str(ROOT / ".venv" / "bin" / "affectd")
    unit = (ROOT / "systemd" / "affectd.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "NoNewPrivileges=yes" in unit
    local = tmp_path / "affectd.service"
    local.write_text(unit.replace("/opt/affectd/.venv/bin/affectd", exe))
    res = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "", res.stderr


def test_exposure_with_the_jetson_drop_in_stays_at_most_2() -> None:
    """The Pi unit alone and with the Jetson drop-in, as systemd loads them from
    /etc/systemd/system: exposure at most 2.0, and the drop-in's entries in the ACL."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (script/test installs systemd)")
    for drop_in in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            units = root / "etc" / "systemd" / "system"
            units.mkdir(parents=True)
            shutil.copy(ROOT / "systemd" / "affectd.service", units)
            if drop_in:
                (units / "affectd.service.d").mkdir()
                shutil.copy(ROOT / "systemd" / "affectd.service.d" / "jetson.conf",
                            units / "affectd.service.d")
            res = subprocess.run([analyze, "security", "--offline=true", f"--root={root}",
                                  "--threshold=20", "affectd.service"],
                                 capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout[-2000:]
        match = re.search(r"Overall exposure level for affectd\.service: (\d+\.\d)", res.stdout)
        assert match is not None and float(match.group(1)) <= 2.0, res.stdout[-2000:]
        acl = next(line for line in res.stdout.splitlines() if "DeviceAllow=" in line)
        assert "char-alsa:rw" in acl and "char-dma_heap:rw" in acl, acl
        assert ("/dev/nvmap:rw" in acl) is drop_in, acl


def test_unit_exposure_score_is_ok() -> None:
    """`systemd-analyze security` rates the unit's exposure at most 3.0 ("OK")."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (script/test installs systemd)")
    unit = ROOT / "systemd" / "affectd.service"
    res = subprocess.run([analyze, "security", "--offline=true", str(unit)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    match = re.search(r"Overall exposure level for affectd\.service: (\d+\.\d)", res.stdout)
    assert match is not None, res.stdout[-500:]
    assert float(match.group(1)) <= 3.0, res.stdout[-2000:]
    # runs as the unprivileged service user, with no capabilities
    assert re.search(r"✓ User=/DynamicUser=\s+Service runs under a static non-root user",
                     res.stdout), res.stdout[-3000:]
    assert "User=affectd" in unit.read_text() and "CapabilityBoundingSet=\n" in unit.read_text()
    # --threshold is in tenths: the same bound enforced by systemd-analyze itself.
    gate = subprocess.run([analyze, "security", "--offline=true", "--threshold=30", str(unit)],
                          capture_output=True, text=True, timeout=60)
    assert gate.returncode == 0, gate.stdout[-2000:]


class StallablePhysio(PhysioAnalyzer):
    """The real physio analyzer, with a gate the test closes to simulate a hang."""

    def __init__(self) -> None:
        super().__init__(calibration_s=5.0)
        self.gate = threading.Event()
        self.gate.set()

    def process(self, item: SourceItem) -> list[ModalityEstimate]:
        self.gate.wait()
        return super().process(item)


def test_notify_ready_watchdog_and_stall(broker: MosquittoBroker, tmp_path: Path) -> None:
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    got: list[tuple[float, str]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            got.append((time.monotonic(), data.decode()))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    settings = parse_settings({
        "device": {"id": "wd", "state_dir": str(tmp_path / "state")},
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
        "publish": {"interval_s": 0.2},
        "runtime": {"stall_timeout_s": 1.0},
    })
    analyzer = StallablePhysio()
    source = SyntheticPhysioSource(SyntheticSettings(chunk_s=0.1))
    daemon = Daemon(settings, Notifier(sock_path), pairs=[(source, analyzer)])
    runner = threading.Thread(target=daemon.run, daemon=True)
    runner.start()
    try:
        time.sleep(2.0)
        analyzer.gate.clear()  # the analyzer hangs inside process()
        t_stall = time.monotonic()
        time.sleep(3.5)
        stalled_stats = daemon.stats_payload(time.monotonic())
        analyzer.gate.set()
        t_resume = time.monotonic()
        time.sleep(2.0)
    finally:
        daemon.request_stop()
        runner.join(10)
        done.set()
        listener.join(2)
        sock.close()
    msgs = [m for _, m in got]
    assert msgs[0] == "STATUS=starting"
    assert "READY=1" in msgs
    assert msgs[-1] == "STOPPING=1"
    pings = [t for t, m in got if m == "WATCHDOG=1"]
    before = [t for t in pings if t < t_stall]
    during = [t for t in pings if t_stall + 1.3 < t < t_resume]
    after = [t for t in pings if t > t_resume + 0.5]
    assert len(before) >= 3
    assert during == [], "watchdog must not be fed while a stage is stalled"
    assert len(after) >= 3
    assert "physio: stalled" in stalled_stats["faults"]  # type: ignore[operator]
    assert daemon.exit_code == 0
