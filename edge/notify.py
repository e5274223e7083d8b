"""systemd notify protocol (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...).

The protocol is one datagram to the AF_UNIX socket named in $NOTIFY_SOCKET
(a leading '@' means the abstract namespace). It is a few lines, so we speak it
directly instead of depending on libsystemd bindings that are not on PyPI
wheels for every board.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends notify messages when run under systemd; a no-op otherwise."""

    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() else None
        self.sent: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, message: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode("utf-8"))
        except OSError:
            return False
        return True

    def ready(self) -> bool:
        return self.send("READY=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")
