"""HEP collector sockets: UDP in a blocking-receive thread, TCP through asyncio streams.

UDP: asyncio's DatagramProtocol tops out near 35k datagrams/s here (lab notes, section 5); a
thread blocked in recvfrom manages about 155k. The thread receives one datagram, drains what
else is queued without blocking, and hands the batch to the event loop in one
call_soon_threadsafe; parsing and detection stay on the loop (one thread owns the engine). An
8 MB receive buffer (forced past rmem_max when root) absorbs bursts; what the kernel still drops
is read from /proc/net/udp and shown in `status`, never silent. If the loop falls behind, at most
`feeder.MAX_PENDING` datagrams wait; more are dropped and counted (the thread is `feeder.SocketFeeder`).

TCP: HEP over a stream is framed by its own 16-bit total length (v3). Buffers are bounded by
that length; a stream that does not start with `HEP3` is cut (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Callable

from .feeder import SocketFeeder

log = logging.getLogger("sipwarden")

RCVBUF = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
MAX_TCP_CLIENTS = 64
MAX_DGRAM = 65535

Batch = list[tuple[bytes, float]]  # (datagram, receive time)


def open_udp(host: str, port: int) -> socket.socket:
    """A bound UDP socket with a large receive buffer (IPv6 when `host` is one, v6-only)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:  # not root: as much as net.core.rmem_max allows
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        s.bind((host, port))
    except OSError:
        s.close()
        raise
    return s


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (receive buffer full), from /proc/net/udp[6]."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for name in ("/proc/self/net/udp", "/proc/self/net/udp6"):  # /proc/net is hidden under ProcSubset=pid
        with contextlib.suppress(OSError), open(name) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) >= 13 and fields[9] == inode:
                    return int(fields[-1])
    return None


class UdpReceiver(SocketFeeder):
    """One UDP socket read by its own thread; batches of (datagram, time) reach `deliver` on the loop."""

    READ_SIZE = MAX_DGRAM

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, deliver: Callable[[Batch], None]) -> None:
        super().__init__(sock, loop, deliver, f"hep-udp-{sock.getsockname()[1]}")

    def drops(self) -> int | None:
        return kernel_drops(self.sock)


TCP_IDLE = 300.0  # seconds a HEP agent's TCP connection may stay silent (agents keep theirs busy)


class TcpHep:
    """HEP v3 over TCP: each connection's bytes cut into datagrams by their total length."""

    def __init__(self, deliver: Callable[[Batch], None], on_junk: Callable[[], None]) -> None:
        self.deliver = deliver
        self.on_junk = on_junk
        self.clients = 0
        self.servers: list[asyncio.base_events.Server] = []

    async def listen(self, host: str, port: int) -> None:
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.servers.append(await asyncio.start_server(self._client, host, port, family=fam, reuse_address=True))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_TCP_CLIENTS:
            writer.close()
            return
        self.clients += 1
        buf = bytearray()
        try:
            while True:
                try:  # an idle connection must not hold one of the few client slots forever
                    chunk = await asyncio.wait_for(reader.read(65536), timeout=TCP_IDLE)
                except TimeoutError:
                    return
                if not chunk:
                    return
                buf += chunk
                batch: Batch = []
                now = time.time()
                while len(buf) >= 6:
                    (total,) = struct.unpack_from("!H", buf, 4)
                    if buf[:4] != b"HEP3" or total < 6:
                        self.on_junk()  # cannot find the next frame: cut the stream
                        return
                    if len(buf) < total:
                        break
                    batch.append((bytes(buf[:total]), now))
                    del buf[:total]
                if batch:
                    self.deliver(batch)
        except (ConnectionError, OSError):
            return
        finally:
            self.clients -= 1
            writer.close()

    def close(self) -> None:
        for s in self.servers:
            s.close()
