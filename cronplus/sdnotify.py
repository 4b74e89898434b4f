"""systemd's notify protocol without a library: one datagram per message to the socket
named by `$NOTIFY_SOCKET` (issue 14). `READY=1` once the daemon schedules,
`WATCHDOG=1` from the engine's loop every half `$WATCHDOG_USEC`, `STOPPING=1` when
asked to stop. Without `$NOTIFY_SOCKET` there is no notifier at all: the daemon pays
nothing outside systemd.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cronplus.clock import Clock

log = logging.getLogger("cronplus")

_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
MIN_PING_S = 0.1  # the engine's loop wakes at most this often: no busy loop for a watchdog


class Notifier:
    """Messages to systemd's socket. A message systemd cannot take (the socket gone,
    its queue full) is dropped: the daemon's work never waits on its supervisor."""

    def __init__(self, address: str, watchdog_s: float | None, clock: Clock) -> None:
        # "@name" is a socket in the abstract namespace: its name starts with a NUL.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setblocking(False)
        self.clock = clock
        # Pinged every half of systemd's timeout; the engine wakes at least that often,
        # but never more than every MIN_PING_S.
        self.ping_every_s = max(watchdog_s / 2, MIN_PING_S) if watchdog_s else None
        if watchdog_s and watchdog_s / 2 < MIN_PING_S:
            log.warning(
                "event=watchdog-too-short detail='WATCHDOG_USEC=%d asks for a ping every"
                " %gs, shorter than cronplus can keep: it pings every %gs'",
                round(watchdog_s * 1_000_000),
                watchdog_s / 2,
                MIN_PING_S,
            )
        self._ready = False
        self._pinged = 0.0

    def send(self, message: str) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendto(message.encode(), self.address)

    def loop(self) -> None:
        """Called once a turn of the engine's loop: `READY=1` the first time (the
        previous daemon's runs are taken over and scheduling has begun), then
        `WATCHDOG=1` when half the watchdog's timeout went by since the last one."""
        if not self._ready:
            self._ready = True
            self.send("READY=1")
        if self.ping_every_s is None:
            return
        now = self.clock.monotonic()
        # A busy loop turns many times a second: ping at most every quarter timeout,
        # an idle one wakes every half and pings each time.
        if now - self._pinged >= self.ping_every_s / 2:
            self._pinged = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        self.sock.close()


def notifier_from_env(clock: Clock) -> Notifier | None:
    """The notifier `$NOTIFY_SOCKET` asks for, or None. The variables are taken out
    of the environment, as `sd_notify(unset_environment=1)` does: the jobs and the web
    child the daemon starts are not the service systemd watches."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    values = {name: os.environ.pop(name, None) for name in _VARIABLES}
    address = values["NOTIFY_SOCKET"]
    assert address is not None
    watchdog_s = None
    usec, pid = values["WATCHDOG_USEC"], values["WATCHDOG_PID"]
    if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
        watchdog_s = int(usec) / 1_000_000
    return Notifier(address, watchdog_s, clock)
