"""Which wearables are in range: a scan that names each device's kind for the config.

`scan_wearables` listens to advertisements for a few seconds and keeps the devices
the client can read, each with the kind `[physio] devices` wants:

- "polar_h10": a Polar H10 (its advertised name starts "Polar H10"), read for ECG at
  130 Hz through PMD beside its heart rate;
- "heart_rate": any other strap or watch advertising the Heart Rate Service (0x180D);
- "eda": a sensor of the affectd EDA profile (PROFILE.md), advertising its service.

The result is sorted strongest signal first, so the wearable on the person at the
box comes first; `affectd scan` prints it as a config line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_bridge.decoders import EDA_SERVICE

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
POLAR_H10_NAME = "Polar H10"


@dataclass(frozen=True)
class FoundWearable:
    """One wearable heard during a scan."""

    kind: str
    """"polar_h10", "heart_rate" or "eda": the kind `[physio] devices` wants."""
    address: str
    """Its Bluetooth address."""
    name: str | None
    """Its advertised name, when it sends one."""
    rssi: int | None
    """Signal strength of its strongest advertisement (dBm)."""

    @property
    def device(self) -> str:
        """The `[physio] devices` entry for it, "kind@address"."""
        return f"{self.kind}@{self.address}"


def kind_of(name: str | None, service_uuids: list[str]) -> str | None:
    """The wearable kind an advertisement announces, None for anything else."""
    uuids = {u.lower() for u in service_uuids}
    if EDA_SERVICE in uuids:
        return "eda"
    if (name or "").startswith(POLAR_H10_NAME):
        return "polar_h10"
    if HEART_RATE_SERVICE in uuids:
        return "heart_rate"
    return None


async def scan_wearables(timeout: float = 8.0, backend: type | None = None,
                         **backend_kwargs: Any) -> list[FoundWearable]:
    """The wearables advertising within `timeout` seconds, strongest first (bleak's
    scanner on the system's Bluetooth, or `backend`, e.g. the Bumble one in tests)."""
    from bleak import BleakScanner

    kwargs: dict[str, Any] = dict(backend_kwargs)
    if backend is not None:
        kwargs["backend"] = backend
    seen = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
    found = []
    for device, ad in seen.values():
        name = ad.local_name or device.name
        kind = kind_of(name, list(ad.service_uuids))
        if kind is not None:
            found.append(FoundWearable(kind, str(device.address), name,
                                       None if ad.rssi is None else int(ad.rssi)))
    return sorted(found, key=lambda f: (-(f.rssi if f.rssi is not None else -999),
                                        f.address))
