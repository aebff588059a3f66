"""The application: routes a :class:`Request` to an endpoint and always returns a Response.

Routes (``{m}`` is a loaded model's name; ``/versions/{v}`` may follow it):

==========  ====================================  =====================================
GET         /v2, /v2/health/live, /v2/health/ready KServe v2 server metadata and health
GET         /v2/models/{m}[/ready|/config]         KServe v2 model metadata, readiness
POST        /v2/models/{m}/infer                   KServe v2 inference (JSON or binary)
GET         /v2/models[/{m}]/stats                 statistics (Triton extension)
POST        /v2/repository/index                   models in the repository (Triton extension)
POST        /v2/repository/models/{m}/load|unload  model control (``--model-control explicit``)
GET         /v1/models/{m}[/metadata]              TF Serving status and metadata
POST        /v1/models/{m}:predict                 TF Serving predict
POST        /v1/models/{m}:classify                image in, top-k labels out
GET         /metrics                               Prometheus metrics
==========  ====================================  =====================================

Bad requests get a 4xx with ``{"error": "..."}``; an unexpected failure gets a 500 and is
logged, and the server keeps serving.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse
import zlib
from collections.abc import Callable

import numpy as np

from edgeship.errors import EdgeshipError
from edgeship.serve import classify, kserve_v2, tfserving
from edgeship.serve.auth import BearerAuth
from edgeship.serve.metrics import CONTENT_TYPE as METRICS_TYPE
from edgeship.serve.metrics import Metrics
from edgeship.serve.model_control import ModelControl, ModelRepository, control_parameters
from edgeship.serve.protocol import (
    HttpError,
    Request,
    Response,
    error_response,
    json_response,
    parse_json,
)
from edgeship.serve.registry import ModelRegistry, ServedModel
from edgeship.serve.stats import statistics
from edgeship.serve.tensors import check_feeds

log = logging.getLogger("edgeship.serve")

_MODEL_PATH = re.compile(
    r"^/v(?P<api>[12])/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>.*)$"
)
_CONTROL_PATH = re.compile(r"^/v2/repository/models/(?P<name>[^/]+)/(?P<action>load|unload)$")
Handler = Callable[[Request, ServedModel], Response]
INFER_ENDPOINTS = frozenset({"v2_infer", "v1_predict", "v1_classify"})
MAX_CACHED_ROUTES = 1024
_HEADER_LENGTH = kserve_v2.HEADER_LENGTH.lower()


class App:
    """All endpoints over one :class:`ModelRegistry`.

    Args:
        registry: the loaded models.
        auth: bearer-token check (disabled when its token is None).
        max_body_bytes: limit on a decompressed request body.
        repository: the model repository for index and load/unload (default: control off).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        auth: BearerAuth | None = None,
        max_body_bytes: int = 16 * 1024 * 1024,
        repository: ModelRepository | None = None,
    ) -> None:
        self.registry = registry
        self.repository = repository or ModelRepository(registry, [], ModelControl.NONE)
        self.auth = auth or BearerAuth(None)
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics(models_loaded=len(registry))
        self._model_routes: dict[tuple[str, str, str], tuple[str, Handler]] = {
            ("GET", "2", ""): ("v2_model_metadata", self._v2_metadata),
            ("GET", "2", "/ready"): ("v2_model_ready", self._v2_ready),
            ("GET", "2", "/config"): ("v2_model_config", self._v2_config),
            ("GET", "2", "/stats"): ("v2_model_stats", self._v2_stats),
            ("POST", "2", "/infer"): ("v2_infer", self._v2_infer),
            ("GET", "1", ""): ("v1_status", self._v1_status),
            ("GET", "1", "/metadata"): ("v1_metadata", self._v1_metadata),
            ("POST", "1", ":predict"): ("v1_predict", self._v1_predict),
            ("POST", "1", ":classify"): ("v1_classify", self._v1_classify),
        }
        # (method, raw path) -> (endpoint, handler, model) of model routes seen before; a hit
        # counts only while the registry still serves that very model (load/unload)
        self._route_cache: dict[tuple[str, str], tuple[str, Handler, ServedModel]] = {}

    # -- entry point --------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request. Never raises."""
        return self.prepare(request)[1]()

    def prepare(self, request: Request) -> tuple[tuple[str, str], Callable[[], Response]]:
        """Route ``request`` (cheap: checks the token, finds the model, reads no body).

        Returns:
            ``(model, endpoint)`` (``("", "unknown")`` when it does not route), and a call
            that answers the request; that call never raises.
        """
        start = time.perf_counter()
        try:
            model, endpoint, run = self._route(request)
        except Exception as exc:
            refusal = self._failure(request, exc)
            return ("", "unknown"), lambda: self._done(None, "unknown", refusal, start)

        def answer() -> Response:
            try:
                response = run()
            except Exception as exc:
                response = self._failure(request, exc)
            return self._done(model, endpoint, response, start)

        return (model.name if model is not None else "", endpoint), answer

    @staticmethod
    def _failure(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HttpError):
            return error_response(exc.status, exc.message, exc.headers)
        if isinstance(exc, (EdgeshipError, ValueError)):
            return error_response(400 if isinstance(exc, ValueError) else 500, str(exc))
        # a bug: report it, keep serving
        log.error("unexpected error on %s %s", request.method, request.path[:200], exc_info=exc)
        return error_response(500, f"Internal error: {type(exc).__name__}.")

    def _done(
        self, model: ServedModel | None, endpoint: str, response: Response, start: float
    ) -> Response:
        elapsed = time.perf_counter() - start
        status = response.status
        self.metrics.observe_request(model.name if model else "", endpoint, status, elapsed)
        if model is not None and endpoint in INFER_ENDPOINTS:
            model.stats.record_request(status < 400, int(elapsed * 1e9))
        return response

    def waits(self, request: Request) -> bool:
        """True when answering ``request`` may block while using no CPU: inference on a model
        with dynamic batching (it waits for others) and model load/unload. A server that
        calls :meth:`handle` on an event loop must run these on a thread."""
        if request.path.startswith("/v2/repository/models/"):
            return True
        hit = self._route_cache.get((request.method, request.path))
        if hit is not None and self.registry.get(hit[2].name) is hit[2]:
            return hit[2].batcher is not None
        match = _MODEL_PATH.match(request.path)
        if match is None:
            return False
        model = self.registry.get(urllib.parse.unquote(match["name"]))
        return model is not None and model.batcher is not None

    def record_request(self, model_name: str, ok: bool, seconds: float) -> None:
        """Count one finished inference request in its model's statistics."""
        model = self.registry.get(model_name)
        if model is not None:
            model.stats.record_request(ok, int(seconds * 1e9))

    def _route(self, request: Request) -> tuple[ServedModel | None, str, Callable[[], Response]]:
        path, method = request.path, request.method
        self.auth.check(request)
        hit = self._route_cache.get((method, path))
        if hit is not None:
            endpoint, handler, model = hit
            if self.registry.get(model.name) is model:  # still the model that is served
                return model, endpoint, lambda: handler(request, model)
        if path.startswith("/v2/repository/models/") or path.rstrip("/") == "/v2/models/stats":
            endpoint, run = self._extension_route(request)
            return None, endpoint, run
        match = _MODEL_PATH.match(path)
        if match is None:
            endpoint, fixed = self._fixed_route(method, path)
            return None, endpoint, lambda: fixed(request)
        name = urllib.parse.unquote(match["name"])
        version = match["version"]
        rest = match["rest"]
        route = self._model_routes.get((method, match["api"], rest))
        if route is None:  # 404 or 405: the allowed methods only matter here
            methods = [m for (m, api, r) in self._model_routes if api == match["api"] and r == rest]
            if not methods:
                raise HttpError(404, f"No route for {path[:200]!r}.")
            raise HttpError(
                405, f"{method} is not allowed on {path[:200]!r}.", {"Allow": methods[0]}
            )
        model = kserve_v2.model_from_registry(
            self.registry, name, urllib.parse.unquote(version) if version else None
        )
        endpoint, handler = route
        if len(self._route_cache) >= MAX_CACHED_ROUTES:  # many spellings of few routes
            self._route_cache.clear()
        self._route_cache[(method, path)] = (endpoint, handler, model)
        return model, endpoint, lambda: handler(request, model)

    def _extension_route(self, request: Request) -> tuple[str, Callable[[], Response]]:
        if request.path.rstrip("/") == "/v2/models/stats":
            if request.method != "GET":
                raise HttpError(405, f"{request.method} is not allowed here.", {"Allow": "GET"})
            return "v2_stats", lambda: json_response(statistics(self.registry))
        match = _CONTROL_PATH.match(request.path)
        if match is None:
            raise HttpError(
                404, f"No route for {request.path[:200]!r}. Expected .../models/NAME/load|unload."
            )
        if request.method != "POST":
            raise HttpError(405, f"{request.method} is not allowed here.", {"Allow": "POST"})
        name, action = urllib.parse.unquote(match["name"]), match["action"]
        return f"v2_{action}", lambda: self._control(request, name, action)

    def _control(self, request: Request, name: str, action: str) -> Response:
        params = control_parameters(self._body(request))
        if action == "load":
            self.repository.load(name, params)
        else:
            self.repository.unload(name, params)
        self.metrics.models_loaded = len(self.registry)
        return json_response({})

    def _fixed_route(self, method: str, path: str) -> tuple[str, Callable[[Request], Response]]:
        routes: dict[str, tuple[str, str, Callable[[Request], Response]]] = {
            "/v2": ("GET", "v2_server_metadata", self._v2_server),
            "/v2/health/live": ("GET", "health", self._ok),
            "/v2/health/ready": ("GET", "health", self._ok),
            "/healthz": ("GET", "health", self._ok),
            "/v2/repository/index": ("POST", "v2_repository", self._v2_index),
            "/metrics": ("GET", "metrics", self._metrics),
        }
        entry = routes.get(path.rstrip("/") or "/")
        if entry is None:
            raise HttpError(404, f"No route for {path[:200]!r}. See /v2 and /v1/models/NAME.")
        allowed, endpoint, fn = entry
        if method != allowed:
            raise HttpError(405, f"{method} is not allowed on {path[:200]!r}.", {"Allow": allowed})
        return endpoint, fn

    # -- body handling ------------------------------------------------------------------

    def _body(self, request: Request) -> bytes:
        encoding = request.headers.get("content-encoding")
        if not encoding:
            return request.body
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            return request.body
        if encoding not in ("gzip", "deflate"):
            raise HttpError(415, f"Content-Encoding {encoding!r:.40} is not supported: use gzip.")
        wbits = 31 if encoding == "gzip" else 15
        try:
            inflater = zlib.decompressobj(wbits)
            data = inflater.decompress(request.body, self.max_body_bytes + 1)
        except zlib.error as exc:
            raise HttpError(400, f"The {encoding} body cannot be decompressed: {exc}.") from exc
        # Never more than one byte past the limit is inflated: a body that inflates further
        # stops there, so its length alone says it is too big.
        if len(data) > self.max_body_bytes:
            raise HttpError(
                413, f"The decompressed body exceeds the limit of {self.max_body_bytes} bytes."
            )
        return data

    def infer(self, model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check ``feeds`` against ``model`` and run them (batched when the model batches):
        the path every protocol shares.

        Raises:
            HttpError: 400 for feeds the model cannot take; 503 when its queue is full.
        """
        feeds = check_feeds(model, feeds)
        start = time.perf_counter()
        results = model.infer(feeds)
        self.metrics.observe_inference(model.name, time.perf_counter() - start)
        return results

    # -- fixed endpoints ----------------------------------------------------------------

    def _ok(self, request: Request) -> Response:
        return Response(status=200, body=b"")

    def _v2_server(self, request: Request) -> Response:
        return json_response(kserve_v2.server_metadata())

    def _v2_index(self, request: Request) -> Response:
        body = self._body(request)
        doc = parse_json(body, "repository index request") if body.strip() else {}
        ready = isinstance(doc, dict) and doc.get("ready") is True
        return json_response(self.repository.index(ready_only=ready))

    def _metrics(self, request: Request) -> Response:
        return Response(body=self.metrics.render().encode("utf-8"), content_type=METRICS_TYPE)

    # -- model endpoints ----------------------------------------------------------------

    def _v2_metadata(self, request: Request, model: ServedModel) -> Response:
        return json_response(kserve_v2.model_metadata(model))

    def _v2_ready(self, request: Request, model: ServedModel) -> Response:
        return Response(status=200, body=b"")

    def _v2_config(self, request: Request, model: ServedModel) -> Response:
        return json_response(kserve_v2.model_config(model))

    def _v2_stats(self, request: Request, model: ServedModel) -> Response:
        return json_response(statistics([model]))

    def _v2_infer(self, request: Request, model: ServedModel) -> Response:
        body = self._body(request)
        feeds, wanted, rid = kserve_v2.parse_infer_request(
            model, body, request.headers.get(_HEADER_LENGTH)
        )
        results = self.infer(model, feeds)
        return kserve_v2.build_infer_response(model, results, wanted, rid)

    def _v1_status(self, request: Request, model: ServedModel) -> Response:
        return json_response(tfserving.model_status(model))

    def _v1_metadata(self, request: Request, model: ServedModel) -> Response:
        return json_response(tfserving.model_metadata(model))

    def _v1_predict(self, request: Request, model: ServedModel) -> Response:
        doc = parse_json(self._body(request))
        feeds, rows = tfserving.parse_predict(model, doc)
        results = self.infer(model, feeds)
        return json_response(tfserving.build_predict(model, results, rows))

    def _v1_classify(self, request: Request, model: ServedModel) -> Response:
        image = classify.extract_image(self._body(request), request.header("content-type"))
        x = classify.preprocess_image(model, image)
        results = self.infer(model, {model.inputs[0].name: x})
        scores = results[model.outputs[0].name]
        k = classify.parse_top_k(request.query.get("top_k"), int(np.asarray(scores).size))
        return json_response(
            {"model_name": model.name, "predictions": classify.top_k(model, scores, k)}
        )
