"""The backend's work, without HTTP: one model shared by every request, setup and predict.

:class:`Backend` holds the models (built once), the image fetcher, one labeler per distinct
labeling config (cached), and the capacity gate: one request runs the model at a time; up to
``max_waiting`` more wait their turn for at most ``queue_timeout`` seconds; any request beyond
that, or one that waited too long, is refused with :class:`OverCapacityError` (HTTP 503), so
memory never grows with the number of callers. Within a request, the tasks' images go through
the pipeline together (chunks of ``image_batch``), fetched as the pipeline asks for them.

``model_version``: ``autolabel-<version>-<preset or config>-<hash>``, the hash (8 hex digits)
over the settings that change results, the labels as placed and the controls filled, so Label
Studio keeps the predictions of different settings, label sets or region types apart, and the
same ones stay the same across restarts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from autolabel import __version__
from autolabel.config import PipelineConfig
from autolabel.errors import AutolabelError
from autolabel.formats.names import digest
from autolabel.integrations.labelstudio.fetch import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    ImageFetcher,
    ImageFetchError,
    Origin,
    same_origin,
)
from autolabel.integrations.labelstudio.labeling import LabelConfigError, LabelingConfig, parse_labeling_config
from autolabel.integrations.labelstudio.labels import LabelMap, map_labels
from autolabel.integrations.labelstudio.regions import prediction
from autolabel.names import display_name
from autolabel.types import ImageAnnotations, ImageFailure
from autolabel.vocabulary import LabelSpace, build_labeler

log = logging.getLogger(__name__)

FETCH_AHEAD = 4
"""Images of a request fetched at once, ahead of the pipeline (each at most ``max_image_bytes``)."""

Annotate = Callable[[Iterable[Any], Sequence[str], Any], Iterator[Any]]
"""``annotate(images, names, labeler)`` -> one ``ImageAnnotations`` or ``ImageFailure`` per image, in order."""


class OverCapacityError(AutolabelError):
    """Too many requests are waiting for the model; the caller should retry later (HTTP 503)."""


class RequestError(AutolabelError):
    """A request body the protocol does not allow (HTTP 400); the message says what was expected."""


class RequestTooLarge(RequestError):
    """A request asks for more than the backend takes at once (HTTP 413)."""


@dataclass(frozen=True)
class BackendSettings:
    """How the backend reaches images and how much it takes on.

    Attributes:
        label_studio_url: base URL of Label Studio, for relative image URLs (``/data/upload/...``);
            None: the ``hostname`` Label Studio sends with ``/setup``.
        api_key: Label Studio API token (``Authorization: Token``); None: the ``access_token``
            sent with ``/setup`` (used only with that setup's hostname).
        name: the preset (or ``config``) named in ``model_version``.
        fetch_timeout: seconds one image fetch may take.
        max_image_bytes: largest image file accepted (bytes).
        local_roots: folders whose files a task may name by local path (none: off).
        max_waiting: requests that may wait while one runs the model; more get 503.
        queue_timeout: seconds a request waits for the model before it gets 503.
        max_request_bytes: largest request body accepted (bytes; larger: HTTP 413).
        max_tasks: most tasks in one ``/predict`` (more: HTTP 413).
    """

    label_studio_url: str | None = None
    api_key: str | None = None
    name: str = "config"
    fetch_timeout: float = DEFAULT_TIMEOUT
    max_image_bytes: int = DEFAULT_MAX_BYTES
    local_roots: tuple[str, ...] = ()
    max_waiting: int = 4
    queue_timeout: float = 90.0
    max_request_bytes: int = 32 * 1024 * 1024
    max_tasks: int = 10_000


@dataclass(frozen=True)
class Project:
    """A labeling config as the backend uses it: parsed, its labels placed, its labeler built."""

    config: LabelingConfig
    labels: LabelMap
    labeler: Any
    model_version: str

    def setup_answer(self) -> dict[str, Any]:
        """``/setup``'s answer: ``model_version`` (what Label Studio reads), the labels placed,
        and the unplaced ones with the reason for each."""
        return {"model_version": self.model_version, "labels": [c.name for c in self.labels.placed],
                "unplaced_labels": dict(self.labels.unplaced), "controls": self.config.to_dict()["controls"]}


def _pipeline_annotate(config: PipelineConfig, models: Any) -> Annotate:
    def annotate(images: Iterable[Any], names: Sequence[str], labeler: Any) -> Iterator[Any]:
        from autolabel.pipeline import annotate_images

        return annotate_images(images, config, models=dataclasses.replace(models, labeler=labeler), names=names)

    return annotate


class Backend:
    """Setup and predict for Label Studio, over one set of models.

    Args:
        config: pipeline settings (its ``vocabulary`` is not used: the labeling config's labels are
            the classes; its ``min_score`` still drops weak boxes).
        settings: see :class:`BackendSettings`.
        models: built with :func:`autolabel.pipeline.load_models` (built here otherwise); their
            labeler is replaced per project by one for the project's labels.
        annotate, space: for tests: the annotating function and the label space to place labels
            on, instead of the pipeline and the models'.
    """

    def __init__(self, config: PipelineConfig, settings: BackendSettings | None = None, *, models: Any = None,
                 annotate: Annotate | None = None, space: LabelSpace | None = None) -> None:
        self.config = config
        self.settings = settings or BackendSettings()
        if annotate is None:
            if models is None:
                from autolabel.pipeline import load_models

                models = load_models(dataclasses.replace(config, vocabulary=None))
            annotate = _pipeline_annotate(config, models)
            space = space or models.labeler.space
        if space is None:
            raise ValueError("a Backend with its own annotate function needs the label space too")
        self.space = space
        self.models = models
        """The pipeline's models (None with a test's own ``annotate``); another Backend may share them."""
        self._annotate = annotate
        if space.subset != "unknown":  # WordNet loads in ~2 s; Label Studio gives /setup 3 s
            from autolabel.vocabulary.wordnet import get_wordnet

            get_wordnet()
        s = self.settings
        self.fetcher = ImageFetcher(s.fetch_timeout, s.max_image_bytes, s.local_roots)
        self._model_lock = threading.Lock()
        self._admit = threading.Semaphore(1 + s.max_waiting)
        self._state_lock = threading.Lock()
        self._projects: OrderedDict[str, Project] = OrderedDict()
        self._origins: dict[str, Origin] = {}
        self.busy = 0
        self._settings_text = json.dumps({k: v for k, v in config.result_dict().items() if k != "vocabulary"},
                                         sort_keys=True, default=str)

    def close(self) -> None:
        self.fetcher.close()

    # -- versions and projects -------------------------------------------------------------

    def model_version(self, labels: LabelMap | None = None, config: LabelingConfig | None = None) -> str:
        """``autolabel-<version>-<name>-<8 hex digits>``: the hash over the settings that change
        results, and (for a project) the labels as placed and the controls filled (names,
        region types, labels), which shape the predictions."""
        key = self._settings_text
        if labels is not None:
            key += "\n" + labels.key()
        if config is not None:
            key += "\n" + json.dumps(config.to_dict(), sort_keys=True, ensure_ascii=True)
        return f"autolabel-{__version__}-{self.settings.name}-{digest(key, 8)}"

    def project(self, label_config: Any) -> Project:
        """The parsed config, placed labels and labeler of ``label_config`` (cached per text).

        A label that cannot be placed is logged once per config, as a warning.

        Raises:
            LabelConfigError: the config has no image or no supported control.
        """
        text = label_config if isinstance(label_config, str) else ""
        with self._state_lock:
            found = self._projects.get(text)
            if found is not None:
                self._projects.move_to_end(text)
                return found
        parsed = parse_labeling_config(label_config)
        labels = map_labels(parsed.labels, self.space)  # as --classes: no threshold of its own
        for name, why in labels.unplaced.items():
            log.warning("label %s gets no regions: %s", display_name(repr(name)), display_name(why))
        for note in labels.notes:
            log.warning("%s", display_name(note))
        vocab = labels.vocabulary
        labeler = build_labeler(self.space, vocab, self.config.topk) if vocab is not None else None
        project = Project(parsed, labels, labeler, self.model_version(labels, parsed))
        with self._state_lock:
            self._projects[text] = project
            while len(self._projects) > 64:
                self._projects.popitem(last=False)
        return project

    def remember_origin(self, project_id: str, hostname: Any, token: Any) -> None:
        """What ``/setup`` said about where a project's Label Studio is (its ``hostname`` and
        ``access_token``), used for what the settings do not give."""
        if isinstance(hostname, str) and hostname.startswith(("http://", "https://")):
            with self._state_lock:
                self._origins.pop(project_id, None)
                self._origins[project_id] = Origin(hostname, token if isinstance(token, str) and token else None)
                while len(self._origins) > 4096:  # oldest first (dicts keep insertion order)
                    self._origins.pop(next(iter(self._origins)))

    def origin(self, project_id: str | None) -> Origin:
        """The Label Studio URL and key for images of ``project_id``: the settings' first; a
        token from ``/setup`` only goes with the hostname it came with."""
        s = self.settings
        with self._state_lock:
            told = self._origins.get(project_id or "")
        if s.label_studio_url:
            key = s.api_key
            if key is None and told is not None and told.url and same_origin(told.url, s.label_studio_url):
                key = told.api_key
            return Origin(s.label_studio_url, key)
        if told is not None:
            return Origin(told.url, s.api_key or told.api_key)
        return Origin(None, s.api_key)

    # -- the protocol ----------------------------------------------------------------------

    def setup(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /setup``: ``{"project": "<id>.<ts>", "schema": XML, "hostname", "access_token"}``
        -> ``{"model_version": str, "labels": [...], "unplaced_labels": {label: why}}``.

        Raises:
            RequestError, LabelConfigError.
        """
        if not isinstance(body, Mapping):
            raise RequestError("expected a JSON object")
        project_id = str(body.get("project") or "").split(".", 1)[0]
        self.remember_origin(project_id, body.get("hostname"), body.get("access_token"))
        return self.project(body.get("schema") or body.get("label_config")).setup_answer()

    def predict(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /predict``: ``{"tasks": [...], "project", "label_config"}`` ->
        ``{"results": [prediction per task, in order], "model_version": str}``.

        A task whose image cannot be fetched or read gets an empty result (score 0) and one
        log line. Waits for the model (see the module docstring).

        Raises:
            RequestError (not the protocol's shape), LabelConfigError, OverCapacityError.
        """
        if not isinstance(body, Mapping) or not isinstance(body.get("tasks"), list):
            raise RequestError("expected a JSON object with a list of tasks")
        tasks = body["tasks"]
        if len(tasks) > self.settings.max_tasks:
            raise RequestTooLarge(f"{len(tasks)} tasks in one request, more than {self.settings.max_tasks}")
        project = self.project(body.get("label_config"))
        origin = self.origin(str(body.get("project") or "").split(".", 1)[0] or None)
        if project.labeler is None or not tasks:  # no label can name a box: no need for the model
            records: list[ImageAnnotations | None] = [None] * len(tasks)
        else:
            records = self._gated(lambda: self._annotate_tasks(tasks, project, origin))
        return {"results": [prediction(r, project.config, project.model_version) for r in records],
                "model_version": project.model_version}

    # -- running the model -----------------------------------------------------------------

    def _gated(self, work: Callable[[], Any]) -> Any:
        s = self.settings
        if not self._admit.acquire(blocking=False):
            raise OverCapacityError(f"{1 + s.max_waiting} requests are already running or waiting; retry later")
        try:
            if not self._model_lock.acquire(timeout=s.queue_timeout):
                raise OverCapacityError(f"the model stayed busy for {s.queue_timeout:g} s; retry later")
            try:
                self.busy += 1
                return work()
            finally:
                self.busy -= 1
                self._model_lock.release()
        finally:
            self._admit.release()

    def _annotate_tasks(self, tasks: list[Any], project: Project, origin: Origin) -> list[ImageAnnotations | None]:
        key = project.config.data_key
        why: dict[int, str] = {}
        names = [_task_name(t, i) for i, t in enumerate(tasks)]

        def fetch(i: int) -> bytes:
            data = tasks[i].get("data") if isinstance(tasks[i], Mapping) else None
            try:
                if not isinstance(data, Mapping) or key not in data:
                    raise ImageFetchError(f"the task has no data[{key!r}] (the config's <Image value=\"${key}\">)")
                return self.fetcher.fetch(data[key], origin)
            except ImageFetchError as e:
                why[i] = str(e)
                return b""  # the pipeline turns it into a failure, in order

        def images() -> Iterator[bytes]:
            # fetched FETCH_AHEAD at a time in threads, handed over in order as the pipeline asks
            with ThreadPoolExecutor(FETCH_AHEAD, thread_name_prefix="autolabel-fetch") as pool:
                window: deque[Future[bytes]] = deque()
                for i in range(len(tasks)):
                    window.append(pool.submit(fetch, i))
                    if len(window) >= FETCH_AHEAD:
                        yield window.popleft().result()
                while window:
                    yield window.popleft().result()

        records: list[ImageAnnotations | None] = []
        for i, result in enumerate(self._annotate(images(), names, project.labeler)):
            if isinstance(result, ImageFailure):
                log.warning("%s: empty prediction: %s", names[i], display_name(why.get(i, result.reason)))
                records.append(None)
            else:
                records.append(result)
        return records + [None] * (len(tasks) - len(records))


def _task_name(task: Any, index: int) -> str:
    tid = task.get("id") if isinstance(task, Mapping) else None
    return f"task-{tid}" if isinstance(tid, int) and not isinstance(tid, bool) else f"task-at-{index}"


__all__ = ["Backend", "BackendSettings", "LabelConfigError", "OverCapacityError", "Project", "RequestError", "RequestTooLarge"]
