"""MQTT over TLS with a CA and client certificates made in the test run, MQTT 5,
and a wrong CA that must never connect (the daemon keeps running and exits cleanly)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge.lab.broker import MosquittoBroker, free_port, wait_port
from tests.conftest import DaemonProcess, Recorder, write_config


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}", cwd=d)


def make_cert(d: Path, name: str, ca: str, cn: str) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext.name, cwd=d)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "ca")
    make_ca(d, "other_ca")
    make_cert(d, "server", "ca", "localhost")
    make_cert(d, "client", "ca", "affectd-test")
    return d


def tls_broker(pki: Path) -> tuple[MosquittoBroker, int]:
    tls_port = free_port()
    b = MosquittoBroker()
    for name in ("ca.pem", "server.pem", "server.key"):
        shutil.copy(pki / name, b.workdir / name)
        (b.workdir / name).chmod(0o644)
    w = b.workdir
    b.extra_conf = (f"listener {tls_port} 127.0.0.1\ncafile {w}/ca.pem\n"
                    f"certfile {w}/server.pem\nkeyfile {w}/server.key\n"
                    "require_certificate true\n")
    b.start()
    assert wait_port(tls_port)
    return b, tls_port


def test_mutual_tls_and_wrong_ca(pki: Path, tmp_path: Path) -> None:
    if not MosquittoBroker.available():
        pytest.skip("mosquitto is not installed (script/test installs it)")
    b, tls_port = tls_broker(pki)
    rec = Recorder(b.port)
    try:
        good = write_config(tmp_path / "good.toml", tls_port, tmp_path / "s1",
                            mqtt={"tls": True, "ca_file": str(pki / "ca.pem"),
                                  "cert_file": str(pki / "client.pem"),
                                  "key_file": str(pki / "client.key")})
        d = DaemonProcess(good)
        try:
            rec.wait_for("affectd/test/state", 3, timeout=20)
        finally:
            code, _, err = d.stop()
        assert code == 0, err
        bad = write_config(tmp_path / "bad.toml", tls_port, tmp_path / "s2",
                           device={"id": "badca"},
                           mqtt={"tls": True, "ca_file": str(pki / "other_ca.pem"),
                                 "cert_file": str(pki / "client.pem"),
                                 "key_file": str(pki / "client.key")})
        d2 = DaemonProcess(bad)
        time.sleep(4)
        assert d2.proc.poll() is None, "the daemon must keep running while it cannot connect"
        code, _, err = d2.stop()
        assert code == 0, err
        assert rec.on("affectd/badca/state") == []
        assert f"MQTT connection to 127.0.0.1:{tls_port} failed" in err
    finally:
        rec.close()
        b.close()


def test_mqtt5(broker: MosquittoBroker, recorder: Recorder, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", broker.port, tmp_path / "s", mqtt={"protocol": "5"})
    d = DaemonProcess(cfg)
    try:
        states = recorder.wait_for("affectd/test/state", 3)
        assert recorder.wait_for("affectd/test/availability")[-1].payload == b"online"
    finally:
        code, _, err = d.stop()
    assert code == 0, err
    assert states[0].json()["schema"] == 1
