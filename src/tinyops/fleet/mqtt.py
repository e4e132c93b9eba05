"""A small wrapper over paho-mqtt 2.x used by the host and by the agent.

What it adds over paho: TLS from a CA given as PEM text (what an agent config
carries), a blocking ``connect`` that turns a refused login or a failed TLS
handshake into a :class:`FleetError`, QoS 1 publishes that wait for the
broker's acknowledgement (retrying across reconnects), and subscriptions that
are remembered and re-made on every reconnect (a broker restart loses them).

It imports nothing from tinyops but topics/errors, so the agent stays small.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from tinyops.errors import FleetError

MessageHandler = Callable[[str, bytes, bool], None]


@dataclass
class BrokerAddress:
    host: str
    port: int
    username: str
    password: str
    tls: bool = True
    ca_pem: str | None = None  # CA certificate (PEM text) the server cert must chain to

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.username}@{self.host}:{self.port}"


class MqttConnection:
    """One MQTT v5 session with automatic reconnect and re-subscribe."""

    def __init__(self, address: BrokerAddress, client_id: str | None = None, *,
                 on_message: MessageHandler | None = None,
                 will: tuple[str, bytes, bool] | None = None,
                 on_connect: Callable[[], None] | None = None,
                 keepalive: int = 30) -> None:
        self.address = address
        self.client_id = client_id or f"tinyops-{uuid.uuid4().hex[:12]}"
        self._on_message = on_message
        self._on_connect_hook = on_connect
        self._keepalive = keepalive
        self._subs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._first_result: tuple[bool, str] | None = None
        self._first_done = threading.Event()
        self._sub_waiters: dict[int, tuple[threading.Event, list]] = {}
        self._closing = False
        self.connect_count = 0
        self.disconnect_count = 0  # sessions lost (a broker restart, a takeover, a network cut)

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(address.username, address.password)
        if address.tls:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=address.ca_pem or None)
            ctx.check_hostname = True
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            c.tls_set_context(ctx)
        if will:
            c.will_set(will[0], will[1], qos=1, retain=will[2])
        c.reconnect_delay_set(min_delay=1, max_delay=5)
        c.on_connect = self._handle_connect
        c.on_disconnect = self._handle_disconnect
        c.on_message = self._handle_message
        c.on_subscribe = self._handle_subscribe
        self._client = c

    # ---- life cycle ------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> "MqttConnection":
        """Connect and start the network thread; raise FleetError if refused."""
        a = self.address
        try:
            self._client.connect(a.host, a.port, keepalive=self._keepalive, clean_start=True)
        except ssl.SSLError as e:
            raise FleetError(f"TLS handshake with {a.describe()} failed: {e.reason or e}",
                             hint="check the broker's CA certificate in the config and that the port is the TLS listener") from e
        except socket.gaierror as e:
            raise FleetError(f"cannot resolve the MQTT broker host {a.host!r}: {e.strerror or e}",
                             hint="check the broker's host name (or use its IP address) and the network/DNS") from e
        except OSError as e:
            raise FleetError(f"cannot reach the MQTT broker at {a.host}:{a.port}: {e.strerror or e}",
                             hint="start it with `tinyops broker start` or check host and port") from e
        self._client.loop_start()
        if not self._first_done.wait(timeout):
            self.close()
            raise FleetError(f"no answer from the MQTT broker at {a.describe()} within {timeout:.0f} s",
                             hint="is that port a plain listener while TLS is configured (or the reverse)?")
        ok, why = self._first_result or (False, "unknown")
        if not ok:
            self.close()
            if why.startswith("connection closed"):  # dropped before any CONNACK: a TLS/plain mismatch
                raise FleetError(f"the MQTT broker at {a.describe()} closed the connection before answering",
                                 hint="TLS is probably required on that port (or the port is not plain MQTT): "
                                      "check `tls` and `port` in the config")
            raise FleetError(f"the MQTT broker at {a.describe()} refused the connection: {why}",
                             hint="check the username/password in the config (re-register the device to get new ones)")
        return self

    def close(self) -> None:
        self._closing = True
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001 — closing a dead socket is fine
            pass
        self._client.loop_stop()
        self._connected.clear()

    def __enter__(self) -> "MqttConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(max(0.0, timeout))

    # ---- operations --------------------------------------------------------
    def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 10.0) -> int:
        """Subscribe (and remember it for reconnects). Returns the granted QoS;
        raises FleetError if the broker refuses (ACL)."""
        with self._lock:
            self._subs[topic_filter] = qos
        deadline = time.monotonic() + timeout
        while True:
            if not self.wait_connected(deadline - time.monotonic()):
                raise FleetError(f"not connected to the broker; could not subscribe to {topic_filter}",
                                 hint="check that the broker is running")
            ev, box = threading.Event(), []
            with self._lock:
                rc, mid = self._client.subscribe(topic_filter, qos=qos)
                if rc == mqtt.MQTT_ERR_SUCCESS:
                    self._sub_waiters[mid] = (ev, box)
            if rc == mqtt.MQTT_ERR_SUCCESS and ev.wait(max(0.1, min(5.0, deadline - time.monotonic()))):
                code = box[0]
                if code.is_failure:
                    with self._lock:
                        self._subs.pop(topic_filter, None)
                    raise FleetError(f"the broker refused the subscription to {topic_filter}: {code}",
                                     hint="the ACL does not allow it for this user")
                return int(code.value)
            if time.monotonic() > deadline:
                raise FleetError(f"no SUBACK for {topic_filter} within {timeout:.0f} s", hint="check the broker")

    def unsubscribe(self, topic_filter: str) -> None:
        with self._lock:
            self._subs.pop(topic_filter, None)
        if self.connected:
            self._client.unsubscribe(topic_filter)

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False,
                timeout: float = 30.0) -> None:
        """Publish; for QoS 1 wait for PUBACK, re-sending after a reconnect if needed."""
        data = payload.encode() if isinstance(payload, str) else payload
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FleetError(f"publishing to {topic} was not acknowledged within {timeout:.0f} s",
                                 hint="check that the broker is running and reachable")
            if not self.wait_connected(remaining):
                continue
            info = self._client.publish(topic, data, qos=qos, retain=retain)
            if qos == 0:
                return
            try:
                info.wait_for_publish(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except (RuntimeError, ValueError):
                time.sleep(0.2)
            if info.is_published():
                return

    def publish_many(self, messages: list[tuple[str, bytes]], *, qos: int = 1, retain: bool = False,
                     timeout: float = 30.0) -> None:
        """Publish several messages, then wait for all acknowledgements: one round
        trip for the lot instead of one per message (a rollout to 200 devices).
        Any message not acknowledged in time goes through :meth:`publish`, which retries."""
        infos = []
        if self.connected:
            infos = [(t, p, self._client.publish(t, p, qos=qos, retain=retain)) for t, p in messages]
        else:
            infos = [(t, p, None) for t, p in messages]
        deadline = time.monotonic() + min(timeout, 10.0)
        for topic, payload, info in infos:
            if info is not None and info.rc == mqtt.MQTT_ERR_SUCCESS and qos > 0:
                try:
                    info.wait_for_publish(timeout=max(0.01, deadline - time.monotonic()))
                except (RuntimeError, ValueError):
                    pass
            if info is None or not info.is_published():
                self.publish(topic, payload, qos=qos, retain=retain, timeout=timeout)

    def publish_async(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        """Fire and forget (paho queues QoS 1 and retries while the session lives)."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    # ---- paho callbacks (network thread) -------------------------------------
    def _handle_connect(self, client: mqtt.Client, _ud: object, _flags: object, reason: object,
                        _props: object = None) -> None:
        failed = getattr(reason, "is_failure", False)
        if self._first_result is None:
            self._first_result = (not failed, str(reason))
            self._first_done.set()
        if failed:
            if self._first_result[0] is False:
                client.disconnect()  # do not hammer the broker with a bad password
            return
        self.connect_count += 1
        with self._lock:
            subs = dict(self._subs)
        for flt, qos in subs.items():  # a new session starts with no subscriptions
            client.subscribe(flt, qos=qos)
        self._connected.set()
        if self._on_connect_hook:
            self._on_connect_hook()

    def _handle_disconnect(self, _client: mqtt.Client, _ud: object, _flags: object, reason: object,
                           _props: object = None) -> None:
        if self._connected.is_set():
            self.disconnect_count += 1
        self._connected.clear()
        if self._first_result is None:
            self._first_result = (False, f"connection closed ({reason})")
            self._first_done.set()

    def _handle_subscribe(self, _client: mqtt.Client, _ud: object, mid: int, codes: list,
                          _props: object = None) -> None:
        with self._lock:
            waiter = self._sub_waiters.pop(mid, None)
        if waiter:
            waiter[1].append(codes[0])
            waiter[0].set()

    def _handle_message(self, _client: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        if self._on_message:
            self._on_message(msg.topic, msg.payload, bool(msg.retain))

