"""The agent's local inference endpoint (127.0.0.1 by default).

- ``POST /v1/predict`` — JSON ``{"input": [...]}`` (float domain, quantised
  here for int8 models) or ``{"input_raw": [...]}`` (already in the model's
  dtype), or a body of raw tensor bytes in the model's dtype with
  ``Content-Type: application/octet-stream``. A build with a feature pipeline
  also takes raw samples: ``{"raw": [...]}`` or a WAV body (``Content-Type:
  audio/wav``); the agent computes the features (``agent/features.py``). Answers
  JSON: ``output`` (dequantised floats), ``output_raw``, ``class``, ``label``,
  ``build``, ``latency_ms`` (and ``windows``, one entry per window, when the
  features cut several).
- ``GET /v1/model`` — the active build's identity and tensor details.
- ``GET /v1/health`` — 200 when a model is loaded, 503 otherwise.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tinyops.agent import features
from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.agent.model import LoadedModel
    from tinyops.agent.slots import SlotContent

MAX_BODY = 16 * 1024 * 1024


class Models(Protocol):
    """The model being served (read under the installer's lock) and its predecessor."""

    def current(self) -> tuple[SlotContent | None, LoadedModel | None]: ...
    def previous_build(self, slot: str) -> str | None: ...


class Observer(Protocol):
    """Where served inferences and bad requests are counted (telemetry)."""

    def observe(self, x_float: np.ndarray, y: np.ndarray, latency_s: float) -> None: ...
    def error(self, message: str) -> None: ...


class _Handler(BaseHTTPRequestHandler):
    server_version = "tinyops-agent"
    protocol_version = "HTTP/1.1"  # keep-alive: applications on the Pi reuse connections
    device: str
    models: Models
    telemetry: Observer
    status: Callable[[], dict[str, Any]]

    def log_message(self, *args: Any) -> None:  # quiet: the agent logs what matters
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        content, model = self.models.current()
        if self.path == "/v1/health":
            ok = model is not None
            self._send(200 if ok else 503, {"status": "ok" if ok else "no_model", "device": self.device,
                                            "build": content.build if content else None, **self.status()})
        elif self.path == "/v1/model":
            if content is None or model is None:
                self._send(503, {"error": "no model installed yet"})
                return
            m = content.manifest
            self._send(200, {"device": self.device, "build": content.build, "slot": content.slot,
                             "model": m.get("model"), "variant": m.get("variant"), "profile": m.get("profile"),
                             "runtime": "litert", "inputs": m.get("inputs"), "outputs": m.get("outputs"),
                             "labels": m.get("labels"),
                             "previous_build": self.models.previous_build(content.slot)})
        else:
            self._send(404, {"error": f"no such endpoint {self.path}; try /v1/predict, /v1/model, /v1/health"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/v1/predict":
            self._send(404, {"error": f"no such endpoint {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": f"body over {MAX_BODY} bytes"})
            return
        body = self.rfile.read(length)
        content, model = self.models.current()
        if model is None or content is None:
            self._send(503, {"error": "no model installed yet"})
            return
        try:
            xs = self._parse_input(model, content.manifest, body)
        except ValueError as e:
            self.telemetry.error(f"bad request: {e}")
            self._send(400, {"error": str(e), "expected_shape": list(model.input_shape),
                             "expected_dtype": str(model.input_dtype),
                             "raw_shape": features.raw_shape(content.manifest)})
            return
        labels = content.manifest.get("labels")
        answers = []
        for x in xs:
            y, seconds = model.run(x)
            self.telemetry.observe(model.dequantize_input(x)[0] if x.shape[0] == 1 else model.dequantize_input(x),
                                   y[0], seconds)
            out = model.dequantize_output(y)
            cls = int(np.argmax(out.reshape(-1)))
            answers.append({"output": out.reshape(-1).tolist(), "output_raw": y.reshape(-1).tolist(), "class": cls,
                            "label": labels[cls] if labels and cls < len(labels) else None,
                            "latency_ms": round(seconds * 1000, 4)})
        reply = dict(answers[-1], build=content.build)
        if len(answers) > 1:
            reply["windows"] = answers
        self._send(200, reply)

    def _parse_input(self, model: Any, manifest: dict[str, Any], body: bytes) -> list[np.ndarray]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        need = int(np.prod(model.input_shape))
        if ctype == "application/octet-stream":
            if len(body) != need * model.input_dtype.itemsize:
                raise ValueError(f"raw body is {len(body)} bytes, the model takes {need * model.input_dtype.itemsize}")
            return [np.frombuffer(body, dtype=model.input_dtype).reshape(model.input_shape)]
        if ctype in ("audio/wav", "audio/x-wav", "audio/wave"):
            return self._from_raw(model, manifest, features.wav_samples(body, manifest))
        try:
            req = json.loads(body)
        except ValueError as e:
            raise ValueError(f"body is not JSON: {e}") from e
        if isinstance(req, dict) and "raw" in req:
            return self._from_raw(model, manifest, req["raw"])
        if not isinstance(req, dict) or not ({"input", "input_raw"} & set(req)):
            raise ValueError('send {"input": [...]} (float domain), {"input_raw": [...]} or {"raw": [...]} (samples)')
        raw = "input_raw" in req
        arr = np.asarray(req["input_raw" if raw else "input"], dtype=np.float64)
        if arr.size != need:
            raise ValueError(f"input has {arr.size} values, the model takes {need} (shape {list(model.input_shape)})")
        if not np.all(np.isfinite(arr)):
            raise ValueError("input holds NaN or infinity")
        arr = arr.reshape(model.input_shape)
        return [arr.astype(model.input_dtype) if raw else model.quantize(arr)]

    @staticmethod
    def _from_raw(model: Any, manifest: dict[str, Any], raw: Any) -> list[np.ndarray]:
        try:
            rows = features.model_inputs(manifest, raw)
        except (TypeError, ValueError) as e:
            raise ValueError(str(e)) from e
        need = int(np.prod(model.input_shape))
        if rows[0].size != need:
            raise ValueError(f"the features give {rows[0].size} values, the model takes {need}")
        return [model.quantize(r.reshape(model.input_shape)) for r in rows]


class _QuietHTTPServer(ThreadingHTTPServer):
    """serve_forever blocks in select() instead of waking every 0.5 s (an idle
    agent should cost ~0 CPU); shutdown pokes the socket so the loop notices."""

    def shutdown(self) -> None:
        t = threading.Thread(target=ThreadingHTTPServer.shutdown, args=(self,), daemon=True)
        t.start()
        deadline = time.monotonic() + 2.0
        while t.is_alive() and time.monotonic() < deadline:
            try:  # a throw-away connection wakes select(); the loop then sees the request to stop
                socket.create_connection(self.server_address[:2], timeout=0.5).close()
            except OSError:
                pass
            t.join(0.05)


def start_server(host: str, port: int, *, device: str, models: Models, telemetry: Observer,
                 status: Callable[[], dict[str, Any]], config_path: Path | None = None) -> ThreadingHTTPServer:
    """Bind and serve; ``port = 0`` picks a free one (see ``server_address``). A port
    that is taken or not allowed is an InputError naming the config key to change.
    ``status()`` adds the agent's state (connection, update, uptime) to the health check."""
    handler = type("AgentHandler", (_Handler,), {"device": device, "models": models, "telemetry": telemetry,
                                                 "status": staticmethod(status)})
    where = f"[agent] http_port in {config_path}" if config_path else "[agent] http_port in agent.toml"
    try:
        httpd = _QuietHTTPServer((host, port), handler)
    except OSError as e:
        what = "is already in use (another tinyops-agent on this machine?)" if e.errno == errno.EADDRINUSE \
            else f"cannot be opened: {e.strerror or e}"
        raise InputError(f"HTTP port {port} on {host} {what}",
                         hint=f"set {where} to a free port, or to 0 to pick one") from e
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": None}, name="agent-http", daemon=True).start()
    return httpd
