"""An embedded MQTT broker in pure Python (asyncio), for when Mosquitto is not installed.

``tinyops broker start`` runs it as ``python -m tinyops.fleet.embedded_broker
--dir D`` when ``mosquitto`` is missing (``--embedded`` forces it). It reads
the same folder ``broker setup`` writes for Mosquitto: the TLS certificate and
key, ``passwd`` (Mosquitto's ``$7$`` PBKDF2-SHA512 hashes) and ``acl``, and the
ports in ``broker.json``. SIGHUP reloads ``passwd`` and ``acl``.

It speaks MQTT 5 and 3.1.1 with what tinyops uses: username/password login,
QoS 0 and 1, retained messages (saved to ``embedded-retained.sqlite``), ``+``/``#``
wildcards, ``$share/group/filter`` shared subscriptions (round-robin), last
wills, keep-alive, the ACL on publish, subscribe and delivery, and a packet
size limit. What it does not do is listed in :data:`LIMITATIONS`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import ssl
from pathlib import Path

from tinyops.fleet import mqtt_packets as mp
from tinyops.fleet.embedded_core import CONNECT_TIMEOUT_S, DEFAULT_MAX_PACKET, Broker, log

__all__ = ["LIMITATIONS", "Broker", "serve", "main"]

LIMITATIONS = [
    "single process on one machine: no clustering or bridging, and throughput is that of one Python thread",
    "no persistent sessions: every connection starts clean (session present = 0); subscriptions and QoS 1 "
    "messages for a client that is offline are not kept (the tinyops client re-subscribes on reconnect, "
    "and retained builds/desired states are re-delivered)",
    "unacknowledged QoS 1 messages are not re-sent after a reconnect, nor handed to another member of a "
    "shared subscription",
    "no QoS 2 (CONNACK says Maximum QoS 1), no topic aliases, no enhanced authentication (AUTH), "
    "no client certificates",
    "retained messages are saved to disk at most every 0.5 s: a SIGKILL can lose the last changes",
    "message expiry and will delay intervals are not enforced; wills are published at once",
]


# ---- process ------------------------------------------------------------------------
def tls_context(directory: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(directory / "server.crt", directory / "server.key")
    return ctx


async def serve(directory: Path, port: int | None, bind: str, local_port: int | None, *,
                max_packet: int = DEFAULT_MAX_PACKET, persist: bool = True) -> None:
    """Run until SIGTERM/SIGINT; SIGHUP reloads passwd and acl."""
    broker = Broker(directory, max_packet=max_packet, persist=persist)
    servers = []
    if port:
        servers.append(await asyncio.start_server(broker.handle, bind, port, ssl=tls_context(directory),
                                                  ssl_handshake_timeout=CONNECT_TIMEOUT_S, reuse_address=True))
    if local_port:
        servers.append(await asyncio.start_server(broker.handle, "127.0.0.1", local_port, reuse_address=True))
    log.info("embedded MQTT broker listening: TLS %s:%s, plain %s", bind, port, f"127.0.0.1:{local_port}" if local_port else "off")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, broker.reload_auth)
    saver = asyncio.create_task(broker.autosave())
    await stop.wait()
    log.info("stopping: saving %d retained messages", len(broker.retained.messages))
    saver.cancel()
    for srv in servers:
        srv.close()
    for s in list(broker.sessions.values()):
        broker._say_goodbye(s, mp.SERVER_SHUTTING_DOWN)
        broker.drop(s, publish_will=False)
    if broker.handlers:  # closed connections end their handlers; do not cancel them mid-read
        await asyncio.wait(list(broker.handlers), timeout=2.0)
    broker.retained.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinyops.fleet.embedded_broker",
                                 description="Embedded MQTT broker for a folder written by `tinyops broker setup`.")
    ap.add_argument("--dir", required=True, type=Path, help="the broker folder (broker.json, passwd, acl, certificates)")
    ap.add_argument("--port", type=int, help="TLS port (default: from broker.json)")
    ap.add_argument("--local-port", type=int, help="plain port on 127.0.0.1 (default: from broker.json)")
    ap.add_argument("--bind", help="TLS listener address (default: from broker.json)")
    ap.add_argument("--max-packet", type=int, default=DEFAULT_MAX_PACKET)
    ap.add_argument("--no-persist", action="store_true", help="keep retained messages in memory only")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(asctime)s embedded-broker %(levelname)s %(message)s")
    settings = json.loads((a.dir / "broker.json").read_text()) if (a.dir / "broker.json").exists() else {}
    port = a.port if a.port is not None else settings.get("port")
    local = a.local_port if a.local_port is not None else settings.get("local_port")
    asyncio.run(serve(a.dir.resolve(), port, a.bind or settings.get("bind", "0.0.0.0"), local,
                      max_packet=a.max_packet, persist=not a.no_persist))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
