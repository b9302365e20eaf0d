"""A stand-in for the few CVAT server endpoints that cvat-sdk's ``annotate_task`` (and so
``cvat-cli task auto-annotate``) calls, on 127.0.0.1, for one task of images.

A real CVAT server needs Docker, which these machines do not have. The stand-in answers with
the JSON shapes of CVAT's API schema (what cvat-sdk's generated models parse and validate) and
keeps what the client uploads, so a test reads back exactly what a CVAT server would have
received:

=====================================================  =============================================
``GET /api/server/about``                              server version
``GET /api/tasks/<id>``                                the task (size, chunk size, image-set chunks)
``GET /api/labels?task_id=<id>``                       the task's labels (name, id, type)
``GET /api/tasks/<id>/data/meta``                      frame names and sizes
``GET /api/tasks/<id>/data/?type=chunk&number=<n>``    a zip of the original images of chunk ``n``
``PATCH /api/tasks/<id>/annotations/?action=create``   the uploaded shapes (kept in ``uploads``)
``PUT /api/tasks/<id>/annotations/``                   the same, replacing (``--clear-existing``)
``POST /api/functions``                                a native function (agent mode; kept in ``functions``)
=====================================================  =============================================

Requests must carry the access token (``Authorization: Bearer <token>``), as CVAT requires.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

TOKEN = "autolabel-test-token"
UPDATED = "2026-01-01T00:00:00.000000Z"


@dataclass
class Task:
    """One task: its images (in frame order) and labels ``(name, type)``."""

    id: int
    images: list[Path]
    labels: list[tuple[str, str]]
    chunk_size: int = 2
    uploads: list[dict[str, Any]] = field(default_factory=list)
    """Each PATCH/PUT body, parsed, with ``"method"`` and ``"action"`` added."""

    def label_id(self, name: str) -> int:
        return 100 + [n for n, _ in self.labels].index(name)

    def label_name(self, label_id: int) -> str:
        return self.labels[label_id - 100][0]

    def frame_size(self, frame: int) -> tuple[int, int]:
        with Image.open(self.images[frame]) as im:
            return im.size


class StandIn:
    """The server: ``with StandIn(task) as server:`` serves ``server.url`` until the block ends."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.requests: list[str] = []
        self.functions: list[dict[str, Any]] = []
        handler = type("Handler", (_Handler,), {"standin": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # -- answers -------------------------------------------------------------------------

    def task_json(self) -> dict[str, Any]:
        t = self.task
        return {
            "id": t.id, "name": "autolabel test", "size": len(t.images), "mode": "annotation",
            "data_chunk_size": t.chunk_size, "data_compressed_chunk_type": "imageset",
            "data_original_chunk_type": "imageset", "dimension": "2d", "status": "annotation",
            "subset": "", "organization": None, "project_id": None, "image_quality": 70,
            "created_date": UPDATED, "updated_date": UPDATED, "overlap": 0, "segment_size": len(t.images),
            "jobs": {"count": 1, "completed": 0, "validation": 0, "url": f"{self.url}/api/jobs?task_id={t.id}"},
            "labels": {"url": f"{self.url}/api/labels?task_id={t.id}"},
            "url": f"{self.url}/api/tasks/{t.id}", "owner": None, "assignee": None, "bug_tracker": "",
            "data": 1, "source_storage": None, "target_storage": None, "validation_mode": None,
        }

    def labels_json(self) -> dict[str, Any]:
        results = [{"id": self.task.label_id(n), "name": n, "type": typ, "color": "#ff0000", "attributes": [],
                    "sublabels": [], "has_parent": False, "task_id": self.task.id, "parent_id": None}
                   for n, typ in self.task.labels]
        return {"count": len(results), "next": None, "previous": None, "results": results}

    def meta_json(self) -> dict[str, Any]:
        frames = []
        for i, p in enumerate(self.task.images):
            w, h = self.task.frame_size(i)
            frames.append({"name": p.name, "width": w, "height": h, "related_files": 0, "has_related_context": False})
        return {"chunks_updated_date": UPDATED, "chunk_size": self.task.chunk_size, "size": len(frames),
                "image_quality": 70, "start_frame": 0, "stop_frame": len(frames) - 1, "frame_filter": "",
                "frames": frames, "deleted_frames": [], "included_frames": None}

    def chunk_zip(self, number: int) -> bytes:
        buf = io.BytesIO()
        first = number * self.task.chunk_size
        with zipfile.ZipFile(buf, "w") as zf:
            for i, p in enumerate(self.task.images[first:first + self.task.chunk_size]):
                zf.writestr(f"{first + i:06d}{p.suffix}", p.read_bytes())
        return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode())

    def _route(self, method: str) -> None:
        s = self.standin
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        s.requests.append(f"{method} {path}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json({"detail": "Authentication credentials were not provided."}, 401)
        tid = s.task.id
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method in ("PATCH", "PUT", "POST") else b""
        if method == "GET" and path == "/api/server/about":
            return self._json({"name": "CVAT stand-in", "description": "", "version": "2.50.0", "logo_url": "", "subtitle": ""})
        if method == "GET" and path == f"/api/tasks/{tid}":
            return self._json(s.task_json())
        if method == "GET" and path == "/api/labels" and query.get("task_id") == str(tid):
            return self._json(s.labels_json())
        if method == "GET" and path == f"/api/tasks/{tid}/data/meta":
            return self._json(s.meta_json())
        if method == "GET" and path == f"/api/tasks/{tid}/data" and query.get("type") == "chunk":
            return self._send(200, s.chunk_zip(int(query["number"])), "application/zip")
        if method in ("PATCH", "PUT") and path == f"/api/tasks/{tid}/annotations":
            data = json.loads(body)
            s.task.uploads.append({**data, "method": method, "action": query.get("action")})
            return self._json({"version": len(s.task.uploads), "tags": [], "shapes": [], "tracks": []})
        if method == "POST" and path == "/api/functions":
            s.functions.append(json.loads(body))
            return self._json({**s.functions[-1], "id": len(s.functions)}, 201)
        return self._json({"detail": f"stand-in has no {method} {path}"}, 404)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._route("GET")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")
