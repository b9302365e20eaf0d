"""The HTTP side: a Starlette application over a :class:`~.backend.Backend`, served by uvicorn.

Endpoints (JSON in and out):

=============  =====================================================================
``GET /health``  ``{"status": "UP", "model_class": "autolabel", "model_version", "busy"}`` (also ``GET /``)
``POST /setup``  ``{"model_version", "labels", "unplaced_labels", "controls"}``
``POST /predict``  ``{"results": [{"result": [...], "score", "model_version"}, ...], "model_version"}``
``POST /webhook``  200 ``{"status": "ok"}``: training events are acknowledged, nothing is trained (also ``/train``)
``GET /versions``  ``{"versions": [model_version]}``;  ``GET /metrics``: ``{}``
=============  =====================================================================

Errors: ``{"status": "ERROR", "message": str}`` with 400 (not the protocol's JSON, a labeling
config without an image or a supported control), 401 (basic auth required and wrong or
missing), 413 (body over ``max_request_bytes`` or too many tasks), 503 with ``Retry-After``
(over capacity) or 500 (anything else, logged with its traceback; the server goes on).
Model work runs in a worker thread, so ``/health`` answers while a prediction runs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
from typing import Any, AsyncIterator, Awaitable, Callable

from autolabel.integrations.labelstudio.backend import Backend, OverCapacityError, RequestError, RequestTooLarge
from autolabel.integrations.labelstudio.labeling import LabelConfigError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 10
"""What a 503 answer's ``Retry-After`` asks for (seconds)."""


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"status": "ERROR", "message": message}, status_code=status, headers=headers)


def _authorized(header: str | None, expected: tuple[str, str]) -> bool:
    """Whether an ``Authorization: Basic ...`` header carries ``expected`` (user, password)."""
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # compare both, always, in constant time
    ok_user = hmac.compare_digest(user.encode(), expected[0].encode())
    ok_pass = hmac.compare_digest(password.encode(), expected[1].encode())
    return ok_user and ok_pass


async def _read_json(request: Any, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"the request body is {declared} bytes, more than {limit}")
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the request body is more than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise RequestError(f"the request body is not JSON ({type(e).__name__}: {str(e)[:200]})") from None


def create_app(backend: Backend, basic_auth: tuple[str, str] | None = None) -> Any:
    """The Starlette application of ``backend``.

    Args:
        backend: does the work; shared by every request.
        basic_auth: ``(user, password)`` every request must send (HTTP basic auth), or None.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    limit = backend.settings.max_request_bytes
    Handler = Callable[[Any], Awaitable[Any]]

    def guarded(handler: Handler) -> Handler:
        async def run(request: Any) -> Any:
            if basic_auth is not None and not _authorized(request.headers.get("authorization"), basic_auth):
                return _error(401, "basic auth required", {"WWW-Authenticate": 'Basic realm="autolabel"'})
            try:
                return await handler(request)
            except (_TooLarge, RequestTooLarge) as e:
                return _error(413, str(e))
            except (RequestError, LabelConfigError) as e:
                return _error(400, str(e))
            except OverCapacityError as e:
                log.warning("%s %s: 503: %s", request.method, request.url.path, e)
                return _error(503, str(e), {"Retry-After": str(RETRY_AFTER_S)})
            except Exception as e:  # the server must outlive any request
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(500, f"{type(e).__name__}: {str(e)[:500]}")

        return run

    async def health(request: Any) -> Any:
        return JSONResponse({"status": "UP", "model_class": "autolabel", "model_version": backend.model_version(),
                             "busy": backend.busy > 0})

    async def setup(request: Any) -> Any:
        body = await _read_json(request, limit)
        return JSONResponse(await run_in_threadpool(backend.setup, body))

    async def predict(request: Any) -> Any:
        body = await _read_json(request, limit)
        return JSONResponse(await run_in_threadpool(backend.predict, body))

    async def webhook(request: Any) -> Any:
        # Label Studio registers <url>/webhook with every backend and sends it every event with
        # its payload (tasks included); nothing here uses it, so the body is not even read.
        log.debug("%s acknowledged; this backend does not train", request.url.path)
        return JSONResponse({"status": "ok", "message": "autolabel does not train; nothing to do"})

    async def versions(request: Any) -> Any:
        return JSONResponse({"versions": [backend.model_version()]})

    async def metrics(request: Any) -> Any:
        return JSONResponse({})

    routes = [
        Route("/", guarded(health), methods=["GET"]),
        Route("/health", guarded(health), methods=["GET"]),
        Route("/setup", guarded(setup), methods=["POST"]),
        Route("/predict", guarded(predict), methods=["POST"]),
        Route("/webhook", guarded(webhook), methods=["POST"]),
        Route("/train", guarded(webhook), methods=["POST"]),
        Route("/versions", guarded(versions), methods=["GET"]),
        Route("/metrics", guarded(metrics), methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        backend.close()

    return Starlette(routes=routes, lifespan=lifespan)


def serve(backend: Backend, host: str = "127.0.0.1", port: int = 9090, basic_auth: tuple[str, str] | None = None,
          log_level: str = "warning") -> None:
    """Serve ``backend`` with uvicorn until interrupted (Ctrl-C / SIGTERM).

    Open connections are capped (uvicorn's ``limit_concurrency``: 503 beyond it) at the
    requests the backend may hold plus a margin for ``/health``.
    """
    import uvicorn

    app = create_app(backend, basic_auth)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level in ("debug", "info"),
                limit_concurrency=backend.settings.max_waiting + 32, timeout_keep_alive=30)
