"""Wearable back-end "emulated": the "ble" back-end on Bumble emulators of the devices
listed in `[physio] devices` (a Polar H10 for polar_h10/heart_rate, the EDA profile
with its skin thermometer for eda), reached through bleak exactly as real devices are,
on a virtual radio.
Their signals come from the synthetic wearer (`edge/physio/synthetic.py`).

It lives in the lab because it needs Bumble; the daemon's wearable table finds it
through the `affectd.wearables` entry point (pyproject.toml) when a config asks
for it, as `script/demo` does.
"""

from __future__ import annotations

from typing import Any

from edge.physio.synthetic import SyntheticPhysio
from edge.sources.base import Backend
from edge.sources.wearable.ble import BleSettings, BleWearableSource

ECG_FS = 130.0
EDA_FS = 4.0


class EmulatedWearableSource(BleWearableSource):
    name = "physio:emulated"

    def __init__(self, settings: BleSettings) -> None:
        super().__init__(settings)
        self._emulators: list[Any] = []

    async def start_radio(self) -> dict[str, Any]:
        from bumble.link import LocalLink

        from firmware_bridge.bumble_backend import BumbleClientBackend, BumbleScannerBackend
        from firmware_bridge.emulators import EmulatedEdaSensor, EmulatedPolarH10

        link = LocalLink()
        self._emulators = []
        for d in self.settings.devices:
            kind, _, addr = d.partition("@")
            wrist = SyntheticPhysio(eda_fs=EDA_FS, seed=1)
            emu: Any = (EmulatedEdaSensor(link, addr, signal=wrist, thermometer=wrist)
                        if kind == "eda" else
                        EmulatedPolarH10(link, addr, signal=SyntheticPhysio(ecg_fs=ECG_FS,
                                                                            seed=0)))
            await emu.start()
            self._emulators.append(emu)
        return {"backend": BumbleClientBackend, "backend_kwargs": {"link": link},
                "scanner_backend": BumbleScannerBackend}

    async def stop_radio(self) -> None:
        for emu in self._emulators:
            await emu.stop()
        self._emulators = []


EMULATED = Backend("emulated", BleSettings, EmulatedWearableSource,
                   stands_in="emulated devices with a generated wearer")
"""The row the `affectd.wearables` entry point names."""
