"""A bleak client back-end on Google's Bumble stack (virtual controllers on a LocalLink).

bleak takes a `backend=` class; this one lets our unchanged bleak-based client
reach emulated wearables that run as Bumble GATT servers in the same process:

    client = BleakClient(address, backend=BumbleClientBackend, link=link)
    scanner = BleakScanner(service_uuids=[...], backend=BumbleScannerBackend, link=link)

Each client gets its own Bumble host and virtual controller attached to `link`.
The bleak releases we install do not ship a Bumble back-end, hence this module;
only the calls our client uses are supported (scan, connect, services, read,
write, notify, disconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble.controller import Controller
from bumble.core import UUID
from bumble.core import AdvertisingData as AD
from bumble.device import Connection, Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink

_PROPS = [(0x02, "read"), (0x04, "write-without-response"), (0x08, "write"),
          (0x10, "notify"), (0x20, "indicate")]
_addresses = itertools.count(1)


def uuid_str(u: Any) -> str:
    """A Bumble UUID as bleak's normalised 128-bit string."""
    short = u.to_hex_str()
    if len(short) <= 8:
        return f"{int(short, 16):08x}-0000-1000-8000-00805f9b34fb"
    return str(u.to_hex_str("-")).lower()


def _address() -> str:
    n = next(_addresses)
    return f"C0:AF:FE:00:{(n >> 8) & 0xFF:02X}:{n & 0xFF:02X}"


class BumbleClientBackend(BaseBleakClient):
    def __init__(self, address_or_ble_device: BLEDevice | str, *, link: LocalLink,
                 **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=kwargs.get(
            "disconnected_callback"), timeout=kwargs.get("timeout", 10.0))
        self._link = link
        self._device: Device | None = None
        self._conn: Connection | None = None
        self._peer: Peer | None = None

    @property
    def mtu_size(self) -> int:
        return int(self._conn.att_mtu) if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dev = Device(f"affectd-{self.address}", Address(_address()))
        dev.host = Host()
        dev.host.controller = Controller(f"ctl-{self.address}", link=self._link)
        await dev.power_on()
        self._device = dev
        try:
            conn = await dev.connect(self.address, timeout=self._timeout)
        except Exception as exc:  # bumble raises its own timeout/HCI errors
            await self._close()
            raise BleakError(f"connect to {self.address} failed: {exc}") from exc
        self._conn = conn
        conn.on("disconnection", self._on_disconnection)
        self._peer = Peer(conn)
        try:  # as bleak's BlueZ back-end: connection and service discovery within `timeout`
            await asyncio.wait_for(self._peer.request_mtu(247), self._timeout)
            self.services = await asyncio.wait_for(self._discover(), self._timeout)
        except TimeoutError:
            await self.disconnect()
            raise


    def _on_disconnection(self, _reason: int) -> None:
        was = self._conn is not None
        self._conn = None
        self._peer = None
        if was and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _close(self) -> None:
        if self._device is not None:
            with contextlib.suppress(Exception):  # the virtual controller may be gone already
                await self._device.power_off()
            self._link.remove_controller(self._device.host.controller)  # type: ignore[arg-type]
        self._device = None

    async def disconnect(self) -> None:
        conn = self._conn
        self._conn = None
        if conn is not None:
            with contextlib.suppress(Exception):  # already dropped by the peer
                await conn.disconnect()
        await self._close()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not used by affectd's wearables")

    async def unpair(self) -> None:
        raise BleakError("pairing is not used by affectd's wearables")

    async def _discover(self) -> BleakGATTServiceCollection:
        assert self._peer is not None
        col = BleakGATTServiceCollection()
        await self._peer.discover_services()
        for s in self._peer.services:
            svc = BleakGATTService(s, s.handle, uuid_str(s.uuid))
            col.add_service(svc)
            await s.discover_characteristics()
            for c in s.characteristics:
                await c.discover_descriptors()
                props: list[Any] = [name for bit, name in _PROPS if int(c.properties) & bit]
                ch = BleakGATTCharacteristic(c, c.handle, uuid_str(c.uuid), props,
                                             lambda: self.mtu_size - 3, svc)
                col.add_characteristic(ch)
                for d in c.descriptors:
                    col.add_descriptor(BleakGATTDescriptor(d, d.handle, uuid_str(d.type), ch))
        return col

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require()
        return bytearray(await characteristic.obj.read_value())

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require()
        return bytearray(await descriptor.obj.read_value())

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        self._require()
        await characteristic.obj.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require()
        await descriptor.obj.write_value(bytes(data))

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        peer = self._require()
        if not {"notify", "indicate"} & set(characteristic.properties):
            # BlueZ answers StartNotify with org.bluez.Error.NotSupported here; Bumble
            # would log and go on without a subscription
            raise BleakError(f"{characteristic.uuid}: neither notify nor indicate")
        await peer.subscribe(characteristic.obj, lambda v: callback(bytearray(v)),
                             prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        if self._peer is not None:
            await self._peer.unsubscribe(characteristic.obj)


class BumbleScannerBackend(BaseBleakScanner):
    """Scanning through a Bumble virtual controller, for `BleakScanner(backend=...)`."""

    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", *, link: LocalLink, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._link = link
        self._device: Device | None = None

    async def start(self) -> None:
        dev = Device("affectd-scanner", Address(_address()))
        dev.host = Host()
        dev.host.controller = Controller("ctl-scanner", link=self._link)
        await dev.power_on()
        dev.on("advertisement", self._on_advertisement)
        await dev.start_scanning(filter_duplicates=False)
        self._device = dev

    async def stop(self) -> None:
        if self._device is not None:
            with contextlib.suppress(Exception):
                await self._device.stop_scanning()
                await self._device.power_off()
            self._link.remove_controller(self._device.host.controller)  # type: ignore[arg-type]
            self._device = None

    def _on_advertisement(self, adv: Any) -> None:
        data = adv.data
        uuids: list[str] = []
        for t in (AD.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AD.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AD.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AD.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
            for group in data.get_all(t):
                uuids += [uuid_str(u) for u in group]
        if self._service_uuids and not set(uuids) & set(self._service_uuids):
            return
        name = data.get(AD.COMPLETE_LOCAL_NAME) or data.get(AD.SHORTENED_LOCAL_NAME)
        address = adv.address.to_string(False)
        ad = AdvertisementData(local_name=name, manufacturer_data={}, service_data={},
                               service_uuids=uuids, tx_power=None, rssi=int(adv.rssi),
                               platform_data=(adv,))
        device = self.create_or_update_device(address, address, name, adv, ad)
        self.call_detection_callbacks(device, ad)


def advertising_data(name: str, service_uuid: str) -> bytes:
    """Advertising payload with a local name and one service UUID (16- or 128-bit)."""
    u = UUID(service_uuid)
    kind = AD.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS if len(u.to_bytes()) == 2 \
        else AD.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS
    return bytes(AD([(AD.COMPLETE_LOCAL_NAME, name.encode()), (kind, u.to_bytes())]))
