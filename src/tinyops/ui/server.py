"""The dashboard app (Starlette, served by uvicorn): pages, JSON APIs, live events, actions.

Pages are Jinja templates (autoescaped) carrying their data as JSON; the
browser renders tables and charts from that JSON with DOM text nodes only, so
a device-supplied string never becomes markup. Changing requests need the
token printed at start-up in an ``X-Tinyops-Token`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from tinyops.errors import ConflictError, InputError, NotFoundError, TinyOpsError
from tinyops.ui import actions, data
from tinyops.ui.cache import PageCache
from tinyops.ui.live import Live

HERE = Path(__file__).parent
PAGES = ("fleet", "rollouts", "models", "drift", "telemetry")
TOKEN_HEADER = "x-tinyops-token"


def _status(e: TinyOpsError) -> int:
    if isinstance(e, NotFoundError):
        return 404
    if isinstance(e, ConflictError):
        return 409
    if isinstance(e, InputError):
        return 400
    return 500


def _cache_header(request: Request) -> dict[str, str]:
    """``X-Tinyops-Cache: hit`` when the page data came from the cache (for scripts and tests)."""
    hit = getattr(request.state, "cached", None)
    return {} if hit is None else {"X-Tinyops-Cache": "hit" if hit else "miss"}


def create_app(root: Path | str, token: str | None = None, *, live_updates: bool = True) -> Starlette:
    from tinyops.workspace import Workspace

    root = Path(root)
    token = token or secrets.token_urlsafe(24)
    local = threading.local()

    def open_ws() -> Workspace:
        return Workspace.open(root)

    def ws() -> Workspace:  # one connection per worker thread
        if getattr(local, "ws", None) is None:
            local.ws = open_ws()
        return local.ws

    live = Live(open_ws)
    cache = PageCache(open_ws)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    fit_cache: dict[str, Any] = {}

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    def api(fn: Callable[[Request], Any], *, changes: bool = False) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if changes and not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
                return JSONResponse({"error": "this action needs the token `tinyops ui` printed at start-up",
                                     "hint": "paste it into the token field (top right)"}, status_code=403)
            try:
                body = await request.json() if changes and request.headers.get("content-length") not in (None, "0") else {}
            except ValueError:
                return JSONResponse({"error": "the request body is not JSON"}, status_code=400)
            request.state.body = body if isinstance(body, dict) else {}
            try:
                out = await call(fn, request)
            except TinyOpsError as e:
                return JSONResponse({"error": str(e)}, status_code=_status(e))
            if isinstance(out, str):  # page data, already serialised (and maybe cached)
                return Response(out, media_type="application/json", headers=_cache_header(request))
            return Response(data.dumps(out), media_type="application/json")
        return endpoint

    # ---- data ----------------------------------------------------------------
    def page_data(page: str, request: Request) -> Any:
        q = request.query_params
        if page == "fleet":
            return data.devices(ws())
        if page == "rollouts":
            return data.rollouts(ws())
        if page == "models":
            return data.models(ws())
        if page == "drift":
            return data.drift(ws(), q.get("target"), q.get("window", "1h"))
        if page == "telemetry":
            return data.telemetry(ws(), q.get("device"), int(q.get("buckets", 60)))
        if page == "device":
            d = data.device(ws(), request.path_params["device"])
            d["events"] = list(live.events.get(request.path_params["device"], []))[::-1]
            return d
        raise NotFoundError(f"no page {page!r}")

    def page_json(page: str, request: Request) -> str:
        """The page's data as JSON that is also safe inside a <script> element; cached until the data changes
        (not the device page: it carries the events this process received)."""
        def compute() -> str:
            return str(htmlsafe_json_dumps(page_data(page, request), dumps=data.dumps))
        if page == "device":
            return compute()
        text, hit = cache.get(page + "?" + str(sorted(request.query_params.multi_items())), compute)
        request.state.cached = hit
        return text

    def page(name: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                payload = await call(page_json, name, request)
            except TinyOpsError as e:
                return templates.TemplateResponse(request, "page.html", {"page": name, "pages": PAGES, "data_json": Markup("null"),
                                                                         "error": str(e)}, status_code=_status(e))
            return templates.TemplateResponse(request, "page.html", {"page": name, "pages": PAGES, "data_json": Markup(payload),
                                                                     "error": None, "broker": live.broker},
                                              headers=_cache_header(request))
        return endpoint

    def fit(request: Request) -> Any:
        ref = request.path_params["variant"]
        if ref not in fit_cache:
            fit_cache[ref] = data.fit(ws(), ref)
        return {"variant": ref, "fit": fit_cache[ref]}

    async def report(request: Request) -> Response:
        from tinyops.monitor.report import write_report

        target = request.query_params.get("target") or ""
        out = Path(tempfile.mkdtemp(prefix="tinyops-ui-report-")) / "drift.html"
        try:
            await call(lambda: write_report(ws(), target, out))
        except TinyOpsError as e:
            return JSONResponse({"error": str(e)}, status_code=_status(e))
        return FileResponse(out, media_type="text/html")

    async def events(request: Request) -> Response:
        q = live.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\nevent: hello\ndata: {}\n\n"
                while not await request.is_disconnected():
                    try:
                        msg = await asyncio.wait_for(q.get(), 15)
                        yield f"data: {msg}\n\n"
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                live.unsubscribe(q)
        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # ---- actions -------------------------------------------------------------
    def rid(request: Request) -> int:
        return int(request.path_params["rollout"])

    routes = [Route("/", page("fleet")), *[Route(f"/{p}", page(p)) for p in PAGES],
              Route("/devices/{device}", page("device")),
              *[Route(f"/api/{p if p != 'fleet' else 'devices'}", api(lambda r, p=p: page_json(p, r))) for p in PAGES],
              Route("/api/devices/{device}", api(lambda r: page_json("device", r))),
              Route("/api/variants/{variant}/fit", api(fit)),
              Route("/drift/report", report),
              Route("/api/events", events),
              Route("/api/rollouts", api(lambda r: actions.start_rollout(open_ws, r.state.body), changes=True),
                    methods=["POST"]),
              Route("/api/rollouts/{rollout:int}/abort", api(lambda r: actions.abort_rollout(ws(), rid(r)), changes=True),
                    methods=["POST"]),
              Route("/api/rollouts/{rollout:int}/pause", api(lambda r: actions.pause_rollout(ws(), rid(r)), changes=True),
                    methods=["POST"]),
              Route("/api/rollouts/{rollout:int}/resume", api(lambda r: actions.resume_rollout(open_ws, rid(r)), changes=True),
                    methods=["POST"]),
              Route("/api/rollouts/{rollout:int}/rollback",
                    api(lambda r: actions.rollback_rollout(open_ws, rid(r)), changes=True), methods=["POST"]),
              Route("/api/models/{name}/aliases",
                    api(lambda r: actions.set_alias(ws(), r.path_params["name"], r.state.body), changes=True),
                    methods=["POST"]),
              Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if live_updates:
            live.start(asyncio.get_running_loop())
        yield
        live.stop()
        cache.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.token = token
    app.state.live = live
    app.state.cache = cache
    return app


def serve(root: Path | str, *, port: int = 8600, bind: str = "127.0.0.1", token: str | None = None,
          on_ready: Callable[[str, str], None] | None = None) -> None:
    """Run the dashboard until interrupted; ``on_ready(url, token)`` is called once it listens."""
    import uvicorn

    app = create_app(root, token)
    config = uvicorn.Config(app, host=bind, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_ready:
            host = bind if bind not in ("0.0.0.0", "::") else "127.0.0.1"
            on_ready(f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}", app.state.token)
        await task
        if not server.started:
            raise InputError(f"cannot listen on {bind}:{port}", hint="pick another --port, or stop what uses it")

    asyncio.run(main())
