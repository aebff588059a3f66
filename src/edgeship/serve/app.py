"""The application: routes a :class:`Request` to an endpoint and always returns a Response.

Routes (``{m}`` is a loaded model's name; ``/versions/{v}`` may follow it):

==========  ====================================  =====================================
GET         /v2, /v2/health/live, /v2/health/ready KServe v2 server metadata and health
GET         /v2/models/{m}[/ready|/config]         KServe v2 model metadata, readiness
POST        /v2/models/{m}/infer                   KServe v2 inference (JSON or binary)
POST        /v2/repository/index                   models held (Triton extension)
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
from edgeship.serve.protocol import (
    HttpError,
    Request,
    Response,
    error_response,
    json_response,
    parse_json,
)
from edgeship.serve.registry import ModelRegistry, ServedModel
from edgeship.serve.tensors import check_feeds

log = logging.getLogger("edgeship.serve")

_MODEL_PATH = re.compile(
    r"^/v(?P<api>[12])/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<rest>.*)$"
)
Handler = Callable[[Request, ServedModel], Response]


class App:
    """All endpoints over one :class:`ModelRegistry`.

    Args:
        registry: the loaded models.
        auth: bearer-token check (disabled when its token is None).
        max_body_bytes: limit on a decompressed request body.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        auth: BearerAuth | None = None,
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.registry = registry
        self.auth = auth or BearerAuth(None)
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics(models_loaded=len(registry))
        self._model_routes: dict[tuple[str, str, str], tuple[str, Handler]] = {
            ("GET", "2", ""): ("v2_model_metadata", self._v2_metadata),
            ("GET", "2", "/ready"): ("v2_model_ready", self._v2_ready),
            ("GET", "2", "/config"): ("v2_model_config", self._v2_config),
            ("POST", "2", "/infer"): ("v2_infer", self._v2_infer),
            ("GET", "1", ""): ("v1_status", self._v1_status),
            ("GET", "1", "/metadata"): ("v1_metadata", self._v1_metadata),
            ("POST", "1", ":predict"): ("v1_predict", self._v1_predict),
            ("POST", "1", ":classify"): ("v1_classify", self._v1_classify),
        }

    # -- entry point --------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request. Never raises."""
        start = time.perf_counter()
        model_label, endpoint = "", "unknown"
        try:
            model_label, endpoint, run = self._route(request)
            response = run()
        except HttpError as exc:
            response = error_response(exc.status, exc.message, exc.headers)
        except (EdgeshipError, ValueError) as exc:
            status = 400 if isinstance(exc, ValueError) else 500
            response = error_response(status, str(exc))
        except Exception as exc:  # a bug: report it, keep serving
            log.exception("unexpected error on %s %s", request.method, request.path[:200])
            response = error_response(500, f"Internal error: {type(exc).__name__}.")
        self.metrics.observe_request(
            model_label, endpoint, response.status, time.perf_counter() - start
        )
        return response

    def _route(self, request: Request) -> tuple[str, str, Callable[[], Response]]:
        path, method = request.path, request.method
        self.auth.check(request)
        match = _MODEL_PATH.match(path)
        if match is None:
            endpoint, fixed = self._fixed_route(method, path)
            return "", endpoint, lambda: fixed(request)
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
        return model.name, endpoint, lambda: handler(request, model)

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
        encoding = (request.header("content-encoding") or "identity").strip().lower()
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
        if len(data) > self.max_body_bytes or inflater.unconsumed_tail:
            raise HttpError(
                413, f"The decompressed body exceeds the limit of {self.max_body_bytes} bytes."
            )
        return data

    def _run(self, model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(model, feeds)
        start = time.perf_counter()
        results = model.predict(feeds)
        self.metrics.observe_inference(model.name, time.perf_counter() - start)
        return results

    # -- fixed endpoints ----------------------------------------------------------------

    def _ok(self, request: Request) -> Response:
        return Response(status=200, body=b"")

    def _v2_server(self, request: Request) -> Response:
        return json_response(kserve_v2.server_metadata())

    def _v2_index(self, request: Request) -> Response:
        return json_response(
            [{"name": m.name, "version": m.version, "state": "READY"} for m in self.registry]
        )

    def _metrics(self, request: Request) -> Response:
        return Response(body=self.metrics.render().encode("utf-8"), content_type=METRICS_TYPE)

    # -- model endpoints ----------------------------------------------------------------

    def _v2_metadata(self, request: Request, model: ServedModel) -> Response:
        return json_response(kserve_v2.model_metadata(model))

    def _v2_ready(self, request: Request, model: ServedModel) -> Response:
        return Response(status=200, body=b"")

    def _v2_config(self, request: Request, model: ServedModel) -> Response:
        return json_response(kserve_v2.model_config(model))

    def _v2_infer(self, request: Request, model: ServedModel) -> Response:
        body = self._body(request)
        feeds, wanted, rid = kserve_v2.parse_infer_request(
            model, body, request.header(kserve_v2.HEADER_LENGTH)
        )
        results = self._run(model, feeds)
        return kserve_v2.build_infer_response(model, results, wanted, rid)

    def _v1_status(self, request: Request, model: ServedModel) -> Response:
        return json_response(tfserving.model_status(model))

    def _v1_metadata(self, request: Request, model: ServedModel) -> Response:
        return json_response(tfserving.model_metadata(model))

    def _v1_predict(self, request: Request, model: ServedModel) -> Response:
        doc = parse_json(self._body(request))
        feeds, rows = tfserving.parse_predict(model, doc)
        results = self._run(model, feeds)
        return json_response(tfserving.build_predict(model, results, rows))

    def _v1_classify(self, request: Request, model: ServedModel) -> Response:
        image = classify.extract_image(self._body(request), request.header("content-type"))
        x = classify.preprocess_image(model, image)
        results = self._run(model, {model.inputs[0].name: x})
        scores = results[model.outputs[0].name]
        k = classify.parse_top_k(request.query.get("top_k"), int(np.asarray(scores).size))
        return json_response(
            {"model_name": model.name, "predictions": classify.top_k(model, scores, k)}
        )
