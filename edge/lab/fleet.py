"""A fleet on loopback for the tests and `script/fleet-demo`: site Mosquitto brokers
bridged to a central one, run from the documented configs in `docs/mosquitto/fleet/`.

`FleetTopology` renders `site.conf` and `central.conf` with only what a deployment
changes (site name, ports, certificate and password files, persistence folder): the
bridge topics, session, queue and notification settings, the TLS client certificates
and the ACLs run as documented. Each site's bridge reaches the central broker through a
`LinkProxy`, a TCP relay that a test can cut and restore, like an uplink that goes
down. Certificates come from `openssl`, passwords from `mosquitto_passwd`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from edge.lab.broker import MosquittoBroker, free_port

CENTRAL_USER = "homeassistant"
"""The consumer account on the central broker (Home Assistant's, in acl-central)."""
PASSWORD = "affectd-fleet-test"  # loopback test brokers only


def fleet_docs() -> Path:
    """`docs/mosquitto/fleet` of the source tree (the fleet runs from a checkout)."""
    here = Path(__file__).resolve().parents[2] / "docs" / "mosquitto" / "fleet"
    if not (here / "site.conf").is_file():
        raise FileNotFoundError(f"{here}/site.conf: the fleet configs come with a checkout")
    return here


class LinkProxy:
    """A TCP relay 127.0.0.1:`port` -> 127.0.0.1:`target`. `cut()` drops every connection
    and stops listening (new ones are refused, as by a host that is unreachable) until
    `restore()` listens again on the same port.

    A relay of our own because the cut must happen between two unmodified brokers on one
    machine without root tools (iptables, network namespaces) in the test run."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        with self._lock:
            if self._server is None:
                self._server = socket.create_server(("127.0.0.1", self.port))
                threading.Thread(target=self._accept, args=(self._server,), daemon=True,
                                 name="link-proxy").start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut or closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # an idle link is not a dead one
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            conns, self._conns = self._conns, []
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()


def _openssl(workdir: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True, timeout=60)


def make_pki(workdir: Path, names: list[str]) -> None:
    """A CA (`central-ca.crt`) and a key and certificate per name (CN = the name)."""
    _openssl(workdir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", "central-ca.key", "-out", "central-ca.crt", "-subj", "/CN=affectd-ca")
    for name in names:
        _openssl(workdir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", f"/CN={name}",
                 "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        _openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", "central-ca.crt",
                 "-CAkey", "central-ca.key", "-CAcreateserial", "-days", "2",
                 "-copy_extensions", "copy", "-out", f"{name}.crt")
    for f in workdir.iterdir():
        f.chmod(0o644)  # mosquitto drops to its own user


def make_passwords(path: Path, users: list[str]) -> None:
    path.write_text("")
    for user in users:
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, PASSWORD], check=True,
                       capture_output=True, timeout=30)
    path.chmod(0o644)


def render(text: str, subs: dict[str, str], site: str | None = None) -> str:
    """A documented config with a deployment's values: `subs` maps an option name to its
    new value (every line of that option), `site` replaces the example site "site1"."""
    out = []
    for line in text.splitlines():
        if site is not None:
            line = line.replace("site1", site)
        key = line.split(" ", 1)[0]
        if key in subs and not line.startswith("#"):
            line = f"{key} {subs[key]}"
        out.append(line)
    return "\n".join(out) + "\n"


@dataclass
class FleetTopology:
    """Central broker + site brokers (each bridged through a `LinkProxy`); `devices` maps
    a site to the device ids that connect to its broker (each its own MQTT user)."""

    devices: dict[str, list[str]]
    site_acl: bool = True
    """Run the sites with acl-site (each device only its own topics); False: a household's
    broker where every device user may publish anywhere (the device then clears its own
    old discovery config after an id change, which the ACL forbids)."""
    central: MosquittoBroker = field(init=False)
    consumer_port: int = field(init=False)
    """The central broker's listener for Home Assistant and other consumers."""
    sites: dict[str, MosquittoBroker] = field(init=False, default_factory=dict)
    links: dict[str, LinkProxy] = field(init=False, default_factory=dict)

    @staticmethod
    def available() -> bool:
        return (MosquittoBroker.available() and shutil.which("openssl") is not None
                and shutil.which("mosquitto_passwd") is not None)

    def start(self) -> FleetTopology:
        docs = fleet_docs()
        self.central = MosquittoBroker(persistent=True)
        pki = self.central.workdir
        make_pki(pki, ["central", *self.devices])
        make_passwords(pki / "passwd-central", [CENTRAL_USER])
        (pki / "acl-central").write_text((docs / "acl-central.example").read_text())
        (pki / "acl-central").chmod(0o644)
        self.consumer_port = free_port()
        bridge_port = free_port()
        text = (docs / "central.conf").read_text()
        text = text.replace("listener 8883", f"listener {bridge_port} 127.0.0.1")
        text = text.replace("listener 1883", f"listener {self.consumer_port} 127.0.0.1")
        text = text.replace("/etc/mosquitto/certs/", f"{pki}/")
        text = render(text, {"persistence_location": f"{pki}/",
                             "password_file": str(pki / "passwd-central"),
                             "acl_file": str(pki / "acl-central")})
        self.central.port = self.consumer_port
        self.central.base_conf = text
        self.central.start()
        for site, ids in self.devices.items():
            self.links[site] = LinkProxy(bridge_port)
            broker = MosquittoBroker(persistent=True)
            wd = broker.workdir
            for f in ("central-ca.crt", f"{site}.crt", f"{site}.key"):
                shutil.copy(pki / f, wd / f)
                (wd / f).chmod(0o644)
            make_passwords(wd / "passwd", ids)
            (wd / "acl-site").write_text(render(
                (docs / "acl-site.example").read_text(), {}, site))
            (wd / "acl-site").chmod(0o644)
            conf = (docs / "site.conf").read_text().replace("/etc/mosquitto/certs/", f"{wd}/")
            conf = re.sub(r"^listener 1883$", f"listener {broker.port} 127.0.0.1", conf,
                          flags=re.M)
            if not self.site_acl:
                conf = re.sub(r"^acl_file .*$", "", conf, flags=re.M)
            broker.base_conf = render(conf, {
                "persistence_location": f"{wd}/", "password_file": str(wd / "passwd"),
                "acl_file": str(wd / "acl-site"),
                "address": f"127.0.0.1:{self.links[site].port}"}, site)
            broker.start()
            self.sites[site] = broker
        return self

    def close(self) -> None:
        for broker in self.sites.values():
            broker.close()
        for link in self.links.values():
            link.close()
        self.central.close()

    def __enter__(self) -> FleetTopology:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
