"""Wearable (physiology) back-ends, chosen by `[physio] backend` from one table.

A new back-end is one file here (its settings class, a subclass of
`PhysioSettings`, and its source) plus one row. The lab adds "emulated"
(Bumble emulators, `edge/lab/wearables.py`) through the `affectd.wearables`
entry point group: the daemon itself imports no emulator.
"""

from __future__ import annotations

from edge.sources.base import Backend, BackendTable
from edge.sources.wearable.ble import BleSettings, BleWearableSource
from edge.sources.wearable.e4 import E4ReplaySource, E4Settings
from edge.sources.wearable.neurokit_csv import NeuroKitCsvSettings, NeuroKitCsvSource
from edge.sources.wearable.synthetic import SyntheticPhysioSource, SyntheticSettings

WEARABLES = BackendTable("physio", "affectd.wearables", [
    Backend("synthetic", SyntheticSettings, SyntheticPhysioSource, stands_in="generated data"),
    Backend("e4", E4Settings, E4ReplaySource, stands_in="a recording"),
    Backend("neurokit_csv", NeuroKitCsvSettings, NeuroKitCsvSource, stands_in="a recording"),
    Backend("ble", BleSettings, BleWearableSource),
])

__all__ = ["WEARABLES"]
