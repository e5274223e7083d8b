"""The unit's device ACL: every `DeviceAllow=` of systemd/affectd.service and its drop-ins
names a kernel device class we use (a static table of /proc/devices names and what each
opens) or a device node, never a directory (systemd skips those: "is not a device"), and
never OSS's `char-sound` in place of ALSA's `char-alsa`."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "affectd.service"
DROP_INS = sorted((ROOT / "systemd" / "affectd.service.d").glob("*.conf"))

# /proc/devices names (character devices) and what affectd needs them for.
CHAR_CLASSES = {
    "video4linux": "major 81, /dev/video*: V4L2 cameras, the Pi's ISP and codec nodes",
    "media": "dynamic major, /dev/media*: libcamera's media controller",
    "dma_heap": "dynamic major, /dev/dma_heap/*: libcamera buffers (Bookworm)",
    "drm": "major 226, /dev/dri/*: buffer sharing (Pi 5)",
    "vchiq": "dynamic major, /dev/vchiq: the Pi 4 firmware camera interface",
    "alsa": "major 116, /dev/snd/*: ALSA sound cards",
    # Jetson (JetPack 6): names vary by release and driver, hence the patterns
    "nvhost*": "host1x engines /dev/nvhost-*: ISP, VIC, NVENC/NVDEC",
    "nvgpu*": "the integrated GPU, /dev/nvgpu/*",
    "nvidia*": "OpenRM driver nodes /dev/nvidia*",
}
# Device nodes named by path: those whose class is too wide to allow (misc, major 10).
NODES = {"/dev/nvmap": "Jetson's memory manager (a misc device)"}
# Directories of device nodes: systemd ignores them in DeviceAllow=.
DIRECTORIES = {"/dev/dma_heap", "/dev/snd", "/dev/dri", "/dev/v4l", "/dev/nvgpu"}


def device_allow(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*DeviceAllow=(\S+)(?:\s+(\S+))?\s*$", line)
        if m:
            out.append((m.group(1), m.group(2) or "rwm"))
    return out


def test_the_unit_and_its_drop_ins_have_device_entries() -> None:
    assert "DevicePolicy=closed" in UNIT.read_text()
    assert [p.name for p in DROP_INS] == ["jetson.conf"]
    assert len(device_allow(UNIT.read_text())) >= 6
    assert len(device_allow(DROP_INS[0].read_text())) >= 3


def test_every_entry_is_a_known_class_or_node_and_never_a_directory() -> None:
    for path in [UNIT, *DROP_INS]:
        for spec, access in device_allow(path.read_text()):
            assert set(access) <= set("rwm"), (path.name, spec, access)
            if spec.startswith("char-"):
                name = spec.removeprefix("char-")
                assert name in CHAR_CLASSES, f"{path.name}: {spec} is not a class we use"
            else:
                assert spec.startswith("/dev/"), (path.name, spec)
                assert spec.rstrip("/") not in DIRECTORIES, f"{path.name}: {spec} is a directory"
                assert not spec.endswith("/"), (path.name, spec)
                assert spec in NODES, f"{path.name}: {spec} is not a node we use"


def test_sound_is_alsa_and_camera_buffers_are_dma_heap() -> None:
    entries = {spec for spec, _ in device_allow(UNIT.read_text())}
    assert "char-alsa" in entries and "char-sound" not in entries  # OSS is major 14
    assert "char-dma_heap" in entries and "/dev/dma_heap" not in entries


def test_jetson_drop_in_binds_the_argus_socket_and_nvidia_nodes() -> None:
    text = DROP_INS[0].read_text()
    assert "BindPaths=-/tmp/argus_socket" in text
    specs = [spec for spec, _ in device_allow(text)]
    assert "/dev/nvmap" in specs
    assert any(fnmatch.fnmatch("nvhost-ctrl", s.removeprefix("char-")) for s in specs)
