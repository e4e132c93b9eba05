"""The embedded broker's core: sessions, routing, subscriptions, retained messages,
wills and the ACL checks (the process around it is :mod:`.embedded_broker`)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tinyops.fleet import mqtt_packets as mp
from tinyops.fleet.broker_auth import READ, WRITE, Acl, check_password, matches, read_password_file, split_shared, valid_filter, valid_topic
from tinyops.fleet.embedded_retained import FLUSH_S, RetainedStore

DEFAULT_MAX_PACKET = 8 * 1024 * 1024   # our chunks are 64 KB; Mosquitto's default is 256 MB
MAX_QUEUED = 10_000                     # QoS 1 messages waiting for a client's receive maximum
MAX_WRITE_BUFFER = 64 * 1024 * 1024     # a client that reads slower than this is dropped
CONNECT_TIMEOUT_S = 10.0
log = logging.getLogger("tinyops.embedded_broker")


@dataclass
class Subscription:
    session: "Session"
    filter: str           # without the $share/group/ prefix
    qos: int
    no_local: bool
    retain_as_published: bool
    sub_id: int | None
    group: str | None = None


class Session:
    """One connected client (sessions end with the connection)."""

    def __init__(self, writer: asyncio.StreamWriter, conn: mp.Connect, client_id: str, username: str) -> None:
        self.writer = writer
        self.id = client_id
        self.username = username
        self.v5 = conn.version == 5
        self.keepalive = conn.keepalive
        self.will = conn.will
        self.receive_max = mp.prop(conn.props, mp.RECEIVE_MAXIMUM, 65535) or 65535
        self.max_packet = mp.prop(conn.props, mp.MAXIMUM_PACKET_SIZE, 1 << 28) or (1 << 28)
        self.subs: dict[str, Subscription] = {}  # as subscribed (with any $share prefix)
        self.inflight: set[int] = set()
        self.waiting: deque[tuple] = deque()
        self._next_id = 0
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("dropping %s: it reads too slowly (%d bytes queued)", self.id,
                        self.writer.transport.get_write_buffer_size())
            self.writer.transport.abort()

    def deliver(self, topic: str, payload: bytes, qos: int, retain: bool, props_raw: bytes,
                sub_ids: tuple[int, ...]) -> None:
        if qos and len(self.inflight) >= self.receive_max:
            if len(self.waiting) < MAX_QUEUED:
                self.waiting.append((topic, payload, qos, retain, props_raw, sub_ids))
            else:
                log.warning("dropping a message for %s: %d QoS 1 messages already queued", self.id, MAX_QUEUED)
            return
        packet_id = self._new_id() if qos else None
        data = mp.publish(topic, payload, qos, retain, packet_id, self.v5, props_raw, sub_ids)
        if len(data) > self.max_packet:  # the client said it cannot take it: skip (MQTT 5 §3.1.2.11.4)
            self.inflight.discard(packet_id)  # type: ignore[arg-type]
            return
        self.send(data)

    def acked(self, packet_id: int) -> None:
        self.inflight.discard(packet_id)
        while self.waiting and len(self.inflight) < self.receive_max:
            self.deliver(*self.waiting.popleft())

    def _new_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self.inflight:
                self.inflight.add(self._next_id)
                return self._next_id
        raise mp.ProtocolError("no free packet identifier", mp.QUOTA_EXCEEDED)


class Broker:
    """Routing, retained messages, subscriptions, authentication."""

    def __init__(self, directory: Path, *, max_packet: int = DEFAULT_MAX_PACKET, persist: bool = True) -> None:
        self.dir = directory
        self.max_packet = max_packet
        self.sessions: dict[str, Session] = {}
        self.subs: dict[str, tuple[list[str], dict[Session, Subscription]]] = {}
        self.shared: dict[tuple[str, str], list[Subscription]] = {}
        self._turn: dict[tuple[str, str], int] = {}  # round-robin position per shared group
        self.retained = RetainedStore(directory / "embedded-retained.sqlite" if persist else None)
        self.users: dict[str, str] = {}
        self.acl = Acl()
        self.handlers: set[asyncio.Task] = set()
        self.reload_auth()

    def reload_auth(self) -> None:
        """(Re)read passwd and acl; on a bad file keep what we had (like a SIGHUP'd Mosquitto)."""
        try:
            users, acl = read_password_file(self.dir / "passwd"), Acl.load(self.dir / "acl")
        except OSError as e:
            log.error("cannot read passwd/acl in %s: %s", self.dir, e)
            return
        self.users, self.acl = users, acl
        log.info("loaded %d users and the ACL", len(users))

    # ---- connections ----------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Session | None = None
        clean = False
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        try:
            ptype, _, body = await asyncio.wait_for(mp.read_packet(reader, self.max_packet), CONNECT_TIMEOUT_S)
            if ptype != mp.CONNECT:
                return
            session = await self._connect(writer, body)
            if session is None:
                return
            while True:
                timeout = session.keepalive * 1.5 if session.keepalive else None
                ptype, flags, body = await asyncio.wait_for(mp.read_packet(reader, self.max_packet), timeout)
                if ptype == mp.DISCONNECT:
                    # Reason 0x04 asks for the will to be published anyway.
                    clean = not session.v5 or mp.parse_disconnect(body) != 0x04
                    return
                self._dispatch(session, ptype, flags, body)
        except asyncio.TimeoutError:
            if session:
                log.info("%s: keep-alive expired", session.id)
                self._say_goodbye(session, mp.KEEP_ALIVE_TIMEOUT)
        except mp.ProtocolError as e:
            log.info("%s: %s", session.id if session else writer.get_extra_info("peername"), e)
            if session and session.v5:
                self._say_goodbye(session, e.reason, str(e))
                await _linger(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            if session is not None:
                self.drop(session, publish_will=not clean)
            writer.close()

    def _say_goodbye(self, s: Session, reason: int, message: str = "") -> None:
        if s.v5 and not s.closed:
            s.send(mp.disconnect(reason, message))

    async def _connect(self, writer: asyncio.StreamWriter, body: bytes) -> Session | None:
        try:
            conn = mp.parse_connect(body)
        except mp.ProtocolError as e:
            if e.reason == mp.UNSUPPORTED_VERSION:
                writer.write(mp.connack(False, mp.UNSUPPORTED_VERSION))
                await writer.drain()
            raise
        v5 = conn.version == 5
        client_id, reason = conn.client_id, mp.SUCCESS
        assigned = not client_id
        if assigned:
            client_id = f"auto-{uuid.uuid4().hex}"
            if not v5 and not conn.clean_start:
                reason = mp.BAD_CLIENT_ID  # 3.1.1: an empty id needs a clean session
        if conn.username is None:
            reason = reason or mp.NOT_AUTHORIZED  # no anonymous clients (allow_anonymous false)
        elif not check_password((conn.password or b"").decode("utf-8", "replace"), self.users.get(conn.username, "")):
            reason = reason or mp.BAD_LOGIN
        if conn.will and not valid_topic(conn.will.topic):
            reason = reason or mp.TOPIC_NAME_INVALID
        if reason:
            log.info("refused %s (user %s): reason 0x%02x", client_id, conn.username, reason)
            writer.write(mp.connack(v5, reason))
            await writer.drain()
            return None
        old = self.sessions.get(client_id)
        if old is not None:  # the same client again (e.g. restarted): the old connection ends
            log.info("%s: session taken over by a new connection", client_id)
            self._say_goodbye(old, mp.SESSION_TAKEN_OVER)
            self.drop(old, publish_will=True)
        s = Session(writer, conn, client_id, conn.username or "")
        if s.will and s.will.qos > 1:
            s.will.qos = 1
        self.sessions[client_id] = s
        props = [(mp.MAXIMUM_QOS, 1), (mp.MAXIMUM_PACKET_SIZE, self.max_packet)]
        if assigned:
            props.append((mp.ASSIGNED_CLIENT_ID, client_id))
        s.send(mp.connack(v5, mp.SUCCESS, props))
        log.debug("%s connected as %s (MQTT %s)", client_id, s.username, "5" if v5 else "3.1.1")
        return s

    def drop(self, s: Session, *, publish_will: bool) -> None:
        """End a session: forget its subscriptions, then publish its will if it died."""
        if s.closed:
            return
        for full in list(s.subs):
            self._unsubscribe(s, full)
        s.closed = True
        if self.sessions.get(s.id) is s:
            del self.sessions[s.id]
        s.writer.close()
        w = s.will
        if publish_will and w is not None and self.acl.allows(s.username, s.id, w.topic, WRITE):
            self.route(w.topic, w.payload, w.qos, w.retain, w.props_raw, None)

    def _dispatch(self, s: Session, ptype: int, flags: int, body: bytes) -> None:
        if ptype == mp.PUBLISH:
            self._on_publish(s, flags, body)
        elif ptype == mp.PUBACK:
            s.acked(mp.parse_packet_id(body))
        elif ptype == mp.SUBSCRIBE:
            self._on_subscribe(s, body)
        elif ptype == mp.UNSUBSCRIBE:
            packet_id, filters = mp.parse_unsubscribe(body, s.v5)
            codes = [mp.SUCCESS if self._unsubscribe(s, f) else mp.NO_SUBSCRIPTION_EXISTED for f in filters]
            s.send(mp.ack(mp.UNSUBACK, packet_id, s.v5, codes))
        elif ptype == mp.PINGREQ:
            s.send(mp.PINGRESP_PACKET)
        elif ptype in (mp.PUBREC, mp.PUBREL, mp.PUBCOMP):
            raise mp.ProtocolError("QoS 2 is not supported by this broker", mp.QOS_NOT_SUPPORTED)
        else:
            raise mp.ProtocolError(f"unexpected packet type {ptype}", mp.PROTOCOL_ERROR)

    # ---- publish ------------------------------------------------------------------
    def _on_publish(self, s: Session, flags: int, body: bytes) -> None:
        p = mp.parse_publish(flags, body, s.v5)
        if p.qos == 2:
            raise mp.ProtocolError("QoS 2 is not supported by this broker", mp.QOS_NOT_SUPPORTED)
        if not valid_topic(p.topic):
            raise mp.ProtocolError(f"invalid topic name {p.topic!r}", mp.TOPIC_NAME_INVALID)
        if self.acl.allows(s.username, s.id, p.topic, WRITE):
            self.route(p.topic, p.payload, p.qos, p.retain, p.props_raw, s)
            reason = mp.SUCCESS
        else:
            log.info("denied: %s may not publish to %s", s.username, p.topic)
            reason = mp.NOT_AUTHORIZED
        if p.qos == 1 and p.packet_id is not None:
            s.send(mp.ack(mp.PUBACK, p.packet_id, s.v5, reason=reason))

    def route(self, topic: str, payload: bytes, qos: int, retain: bool, props_raw: bytes,
              sender: Session | None) -> None:
        """Store if retained, then hand the message to every matching subscriber
        (once per client) and to one member of every matching shared group."""
        if retain:
            self.retained.put(topic, payload, qos, props_raw)
        levels = topic.split("/")
        dollar = topic.startswith("$")
        readable: dict[tuple[str, str], bool] = {}

        def can_read(x: Session) -> bool:
            key = (x.username, x.id)
            if key not in readable:
                readable[key] = self.acl.allows(x.username, x.id, topic, READ)
            return readable[key]

        targets: dict[Session, list] = {}

        def add(sub: Subscription) -> None:
            t = targets.get(sub.session)
            if t is None:
                targets[sub.session] = [sub.qos, sub.retain_as_published, [sub.sub_id] if sub.sub_id else []]
            else:
                t[0], t[1] = max(t[0], sub.qos), t[1] or sub.retain_as_published
                if sub.sub_id:
                    t[2].append(sub.sub_id)

        for flt_levels, members in self.subs.values():
            if _levels_match(flt_levels, levels, dollar):
                for x, sub in members.items():
                    if not (sub.no_local and x is sender) and can_read(x):
                        add(sub)
        for key, members in self.shared.items():
            if members and _levels_match(key[1].split("/"), levels, dollar):
                start = self._turn.get(key, 0)
                for k in range(len(members)):
                    sub = members[(start + k) % len(members)]
                    if can_read(sub.session):
                        self._turn[key] = (start + k + 1) % len(members)
                        add(sub)
                        break
        for x, (sub_qos, rap, ids) in targets.items():
            x.deliver(topic, payload, min(qos, sub_qos), retain and rap, props_raw, tuple(ids))

    # ---- subscriptions -------------------------------------------------------------
    def _on_subscribe(self, s: Session, body: bytes) -> None:
        packet_id, sub_id, items = mp.parse_subscribe(body, s.v5)
        codes: list[int] = []
        replay: list[Subscription] = []
        for full, opts in items:
            qos, retain_handling = opts & 3, (opts >> 4) & 3
            if qos == 3 or retain_handling == 3 or opts & 0xC0:
                raise mp.ProtocolError(f"bad subscription options 0x{opts:02x}")
            try:
                group, flt = split_shared(full)
            except ValueError:
                group, flt = None, ""
            if not valid_filter(flt):
                codes.append(mp.TOPIC_FILTER_INVALID if s.v5 else mp.UNSPECIFIED)
                continue
            if group and opts & 0x04:
                raise mp.ProtocolError("No Local on a shared subscription", mp.PROTOCOL_ERROR)
            if not self.acl.allows_subscribe(s.username, s.id, flt):
                log.info("denied: %s may not subscribe to %s", s.username, full)
                codes.append(mp.NOT_AUTHORIZED if s.v5 else mp.UNSPECIFIED)
                continue
            existed = self._unsubscribe(s, full)
            sub = Subscription(s, flt, min(qos, 1), bool(opts & 0x04), bool(opts & 0x08), sub_id, group)
            s.subs[full] = sub
            if group:
                self.shared.setdefault((group, flt), []).append(sub)
            else:
                self.subs.setdefault(flt, (flt.split("/"), {}))[1][s] = sub
                if retain_handling == 0 or (retain_handling == 1 and not existed):
                    replay.append(sub)
            codes.append(sub.qos)
        s.send(mp.ack(mp.SUBACK, packet_id, s.v5, codes))
        for sub in replay:  # retained messages after the SUBACK, as Mosquitto does
            for topic, msg in list(self.retained.messages.items()):
                if matches(sub.filter, topic) and self.acl.allows(s.username, s.id, topic, READ):
                    s.deliver(topic, msg.payload, min(msg.qos, sub.qos), True, msg.props_raw,
                              (sub.sub_id,) if sub.sub_id else ())

    def _unsubscribe(self, s: Session, full: str) -> bool:
        sub = s.subs.pop(full, None)
        if sub is None:
            return False
        if sub.group:
            members = self.shared.get((sub.group, sub.filter), [])
            if sub in members:
                members.remove(sub)
            if not members:
                self.shared.pop((sub.group, sub.filter), None)
                self._turn.pop((sub.group, sub.filter), None)
        else:
            entry = self.subs.get(sub.filter)
            if entry:
                entry[1].pop(s, None)
                if not entry[1]:
                    del self.subs[sub.filter]
        return True

    async def autosave(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                self.retained.flush()
            except Exception as e:  # noqa: BLE001 — a full disk must not stop the broker
                log.error("saving retained messages failed: %s", e)


async def _linger(reader: asyncio.StreamReader, seconds: float = 1.0) -> None:
    """Discard what the client is still sending for a moment, so closing does not
    reset the connection before it has read our DISCONNECT (and its reason)."""
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            if not await asyncio.wait_for(reader.read(1 << 16), left):
                return
    except (asyncio.TimeoutError, ConnectionError, OSError):
        return


def _levels_match(f: list[str], t: list[str], dollar: bool) -> bool:
    if dollar and f[0] in ("+", "#"):
        return False
    for i, lv in enumerate(f):
        if lv == "#":
            return True
        if i >= len(t) or (lv != "+" and lv != t[i]):
            return False
    return len(f) == len(t)
