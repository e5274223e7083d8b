"""BLE wearables for affectd: GATT profiles, byte-exact decoders, the bleak client.

The decoders, client, supervisor and Bumble emulators are tracked in issue 6;
until they land, physiology comes from `edge.sources.physio` (synthetic
wearable, Empatica E4 and NeuroKit CSV replays).
"""
