"""BLE wearables: GATT profiles, byte-exact decoders, the bleak client and supervisor,
Polar's PFTP clock service, and Bumble emulators of the devices.

A library of its own: it imports nothing of affectd (import-linter contract). It
hands its own `Samples` to a callback (`samples.py`); the daemon's wearable
source (`edge/sources/wearable/ble.py`) adapts them.
"""
