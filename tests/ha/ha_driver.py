"""Drives a real Home Assistant (started by script/test-ha) against affectd daemons on a
bridged fleet topology, and checks through HA's REST and websocket APIs what a user sees.

1. onboarding (owner) -> auth code -> token -> the MQTT config entry through HA's own
   config flow, on the central broker of a fleet (edge/lab/fleet.py);
2. profile `full` on site1/door: every entity appears with a value; the privacy switch
   round-trips both ways (HA -> device, device -> HA) and "Sensing" says paused;
3. the same device switched to `kiosk`, `mood_light` and `biofeedback` in turn: each
   profile's entities with values (the calibrate button pressed in HA, which gives it
   one), no orphan of the profile before;
4. its id changed (door -> porch): no entity or device of the old id left;
5. discovery turned off: porch's device and entities gone;
6. two daemons "door" on two sites: two devices;
7. HA's log has no warning or error about our payloads.
Prints one line per check; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge.lab.fleet import CENTRAL_USER, PASSWORD, FleetTopology  # noqa: E402

BAD = ("unknown", "unavailable", None)
FULL = {"valence", "arousal", "stress", "confidence", "emotion", "sensing", "privacy"}
KIOSK = {"faces", "valence_mean", "arousal_mean", "dwell_s_median", "top_emotion",
         "aggregation", "sensing", "privacy"}
MOOD = {"valence", "arousal", "confidence", "emotion", "sensing", "privacy"}
BIOFEEDBACK = {"stress", "hr_bpm", "rmssd_ms", "breathing_bpm", "calibrate", "sensing",
               "privacy"}


class Fail(Exception):
    pass


def ok(msg: str) -> None:
    print(f"test-ha: ok: {msg}", flush=True)


class HA:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.http = session
        self.token = ""
        self._id = 0

    async def onboard(self) -> None:
        client = f"{self.url}/"
        async with self.http.post(f"{self.url}/api/onboarding/users", json={
                "client_id": client, "name": "Owner", "username": "owner",
                "password": "affectd-test-owner", "language": "en"}) as r:
            code = (await r.json())["auth_code"]
        async with self.http.post(f"{self.url}/auth/token", data={
                "grant_type": "authorization_code", "code": code, "client_id": client}) as r:
            self.token = (await r.json())["access_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.url}{path}", json=body, headers=self.auth) as r:
            if r.status >= 400:
                raise Fail(f"POST {path}: {r.status} {await r.text()}")
            return await r.json()

    async def states(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/states", headers=self.auth) as r:
            return {s["entity_id"]: s for s in await r.json()}

    async def ws(self, kind: str) -> Any:
        async with self.http.ws_connect(f"{self.url}/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json())["type"] != "auth_ok":
                raise Fail("websocket auth")
            self._id += 1
            await ws.send_json({"id": self._id, "type": kind})
            msg = await ws.receive_json()
            if not msg.get("success"):
                raise Fail(f"websocket {kind}: {msg}")
            return msg["result"]

    async def mqtt_entry(self, port: int) -> None:
        flow = await self.post("/api/config/config_entries/flow", {"handler": "mqtt"})
        done = await self.post(f"/api/config/config_entries/flow/{flow['flow_id']}", {
            "broker": "127.0.0.1", "port": port, "username": CENTRAL_USER,
            "password": PASSWORD})
        if done.get("type") != "create_entry":
            raise Fail(f"MQTT config flow: {done}")

    async def entities(self, node: str) -> dict[str, dict[str, Any]]:
        """The registry's MQTT entities of device `node`, by unique-id suffix."""
        reg = await self.ws("config/entity_registry/list")
        return {e["unique_id"][len(node) + 1:]: e for e in reg
                if e["platform"] == "mqtt" and e["unique_id"].startswith(f"{node}_")}

    async def devices(self) -> set[str]:
        reg = await self.ws("config/device_registry/list")
        return {i[1] for d in reg for i in d["identifiers"] if i[0] == "mqtt"}


async def until(what: str, check: Any, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = await check()
        if last:
            return last
        await asyncio.sleep(1.0)
    raise Fail(f"{what} (not within {timeout:g} s)")


class Daemons:
    def __init__(self, fleet: FleetTopology, tmp: Path, data: Path | None) -> None:
        self.fleet, self.tmp, self.data = fleet, tmp, data
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, site: str, dev: str, state: str, **sections: dict[str, Any]) -> None:
        conf: dict[str, dict[str, Any]] = {
            "device": {"id": dev, "state_dir": str(self.tmp / state)},
            "mqtt": {"host": "127.0.0.1", "port": self.fleet.sites[site].port,
                     "topic_prefix": f"affectd/{site}", "username": dev,
                     "password_env": "AFFECTD_MQTT_PASSWORD", "reconnect_min_s": 0.5,
                     "bridge_state_topic": f"affectd/{site}/bridge/connected"},
            "publish": {"interval_s": 1.0, "stats_interval_s": 2.0},
            "physio": {"enabled": True, "backend": "synthetic", "calibration_s": 5.0},
            "runtime": {"log_level": "warning"}}
        for name, values in sections.items():
            conf.setdefault(name, {}).update(values)
        path = self.tmp / f"{site}-{dev}-{len(self.procs)}.toml"
        path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                     for k, v in vals.items())
                                for s, vals in conf.items()))
        env = {**os.environ, "AFFECTD_MQTT_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}
        self.procs[f"{site}/{dev}"] = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(path)], env=env, cwd=ROOT)

    def stop(self, key: str) -> None:
        p = self.procs.pop(key)
        p.send_signal(signal.SIGTERM)
        if p.wait(20) != 0:
            raise Fail(f"daemon {key} exited with {p.returncode}")

    def stop_all(self) -> None:
        for key in list(self.procs):
            self.stop(key)


async def with_values(ha: HA, node: str, keys: set[str], timeout: float = 90) -> None:
    async def check() -> bool:
        ents = await ha.entities(node)
        if not keys <= set(ents):
            return False
        states = await ha.states()
        return all(states.get(ents[k]["entity_id"], {}).get("state") not in BAD for k in keys)
    await until(f"{node}: entities {sorted(keys)} with values", check, timeout)
    ok(f"{node}: {len(keys)} entities with values")


async def exactly(ha: HA, node: str, keys: set[str]) -> None:
    async def check() -> bool:
        return set(await ha.entities(node)) == keys
    try:
        await until(f"{node}: exactly {sorted(keys)}", check, 30)
    except Fail:
        raise Fail(f"{node}: registry has {sorted(await ha.entities(node))}, "
                   f"want {sorted(keys)}") from None
    ok(f"{node}: registry holds exactly its {len(keys)} entities (no orphan)")


async def privacy_round_trip(ha: HA, fleet: FleetTopology, node: str, base: str) -> None:
    ents = await ha.entities(node)
    switch, sensing = ents["privacy"]["entity_id"], ents["sensing"]["entity_id"]

    async def state_of(entity: str, want: str) -> bool:
        return (await ha.states()).get(entity, {}).get("state") == want

    await ha.post("/api/services/switch/turn_on", {"entity_id": switch})
    await until("privacy ON confirmed by the device", lambda: state_of(switch, "on"), 20)
    await until("Sensing says paused", lambda: state_of(sensing, "paused"), 20)
    ok("privacy switch HA -> device: on, Sensing 'paused'")
    subprocess.run(["mosquitto_pub", "-p", str(fleet.consumer_port), "-u", CENTRAL_USER,
                    "-P", PASSWORD, "-q", "1", "-t", f"{base}/privacy/set", "-m", "OFF"],
                   check=True, timeout=10)
    await until("privacy OFF seen by HA", lambda: state_of(switch, "off"), 20)
    ok("privacy switch device -> HA: off")


async def run(url: str, log: Path, data: Path | None, tmp: Path) -> None:
    devs = {"site1": ["door", "porch"], "site2": ["door"]}
    # no per-device ACL on the sites: a renamed device clears its old config itself
    with FleetTopology(devs, site_acl=False) as fleet:
        daemons = Daemons(fleet, tmp, data)
        async with aiohttp.ClientSession() as session:
            ha = HA(url, session)
            await ha.onboard()
            await ha.mqtt_entry(fleet.consumer_port)
            ok("onboarded; MQTT config entry created through HA's config flow")
            try:
                speech = ROOT / "edge" / "assets" / "demo_speech.flac"
                daemons.start("site1", "door", "s1", microphone={
                    "enabled": True, "backend": "file", "path": str(speech), "loop": True})
                await with_values(ha, "affectd_site1_door", FULL)
                await privacy_round_trip(ha, fleet, "affectd_site1_door", "affectd/site1/door")
                daemons.stop("site1/door")
                kiosk: dict[str, Any] = {"profile": "kiosk", "kiosk_window_s": 5.0,
                                         "kiosk_k": 3, "stats_interval_s": 2.0}
                camera: dict[str, Any] = {"enabled": False}
                if data is not None:
                    camera = {"enabled": True, "backend": "file", "fps": 5.0,
                              "path": str(data / "face" / "samples" / "multi_face.jpg")}
                daemons.start("site1", "door", "s1", publish=kiosk, camera=camera,
                              face={"tiles": 2})
                await exactly(ha, "affectd_site1_door", KIOSK)
                await with_values(ha, "affectd_site1_door", KIOSK if data else
                                  {"aggregation", "sensing", "privacy"})
                daemons.stop("site1/door")
                daemons.start("site1", "door", "s1", publish={"profile": "mood_light"},
                              microphone={"enabled": True, "backend": "file",
                                          "path": str(speech), "loop": True})
                await exactly(ha, "affectd_site1_door", MOOD)
                await with_values(ha, "affectd_site1_door", MOOD)
                daemons.stop("site1/door")
                daemons.start("site1", "door", "s1", publish={"profile": "biofeedback"})
                await exactly(ha, "affectd_site1_door", BIOFEEDBACK)
                button = (await ha.entities("affectd_site1_door"))["calibrate"]["entity_id"]
                await ha.post("/api/services/button/press", {"entity_id": button})
                await with_values(ha, "affectd_site1_door", BIOFEEDBACK)
                daemons.stop("site1/door")
                daemons.start("site1", "porch", "s1")  # the same box, renamed
                await until("old device removed after the id change",
                            lambda: _gone(ha, "affectd_site1_door"), 30)
                await with_values(ha, "affectd_site1_porch", {"stress", "sensing", "privacy"})
                ok("id change: affectd_site1_door gone, affectd_site1_porch present")
                daemons.stop("site1/porch")
                daemons.start("site1", "porch", "s1", mqtt={"discovery": False})
                await until("device removed when discovery is off",
                            lambda: _gone(ha, "affectd_site1_porch"), 30)
                ok("discovery off: affectd_site1_porch gone")
                daemons.stop("site1/porch")
                daemons.start("site1", "door", "f1")
                daemons.start("site2", "door", "f2")
                for node in ("affectd_site1_door", "affectd_site2_door"):
                    await with_values(ha, node, {"stress", "confidence", "sensing", "privacy"})
                devices = await ha.devices()
                if not {"affectd_site1_door", "affectd_site2_door"} <= devices:
                    raise Fail(f"fleet: devices {sorted(devices)}")
                ok("fleet: two daemons 'door' on two sites are two devices")
            finally:
                daemons.stop_all()
        await asyncio.sleep(2)  # what HA logs about the last messages (the broker still up)
        check_log(log)


def check_log(log: Path) -> None:
    bad = [line for line in log.read_text(errors="replace").splitlines()
           if re.search(r"\b(WARNING|ERROR)\b", line)
           and re.search(r"mqtt|affectd|template|discovery", line, re.I)]
    if bad:
        raise Fail("HA logged about our payloads:\n" + "\n".join(bad[:20]))
    ok("HA's log: no warning or error about affectd's payloads")


async def _gone(ha: HA, node: str) -> bool:
    return not await ha.entities(node) and node not in await ha.devices()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--log", type=Path, required=True, help="HA's home-assistant.log")
    p.add_argument("--tmp", type=Path, required=True)
    a = p.parse_args()
    data_env = os.environ.get("AFFECTD_DATA")
    data = Path(data_env) if data_env and Path(data_env).is_dir() else None
    if data is None:
        print("test-ha: AFFECTD_DATA absent: the kiosk audience runs without a camera")
    try:
        asyncio.run(run(a.url, a.log, data, a.tmp))
    except Fail as exc:
        print(f"test-ha: FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
