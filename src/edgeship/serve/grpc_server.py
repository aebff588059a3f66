"""KServe v2 over gRPC (``inference.GRPCInferenceService``), next to the HTTP server.

It shares the HTTP server's :class:`~edgeship.serve.app.App`: the same models, input checks,
dynamic batchers, statistics, metrics, bearer token and model control. ``tritonclient.grpc``
works against it unchanged. Errors map to gRPC status codes: a bad request is
``INVALID_ARGUMENT``, an unknown model ``NOT_FOUND``, a full queue ``UNAVAILABLE`` (with a
``retry-after`` trailer), a missing token ``UNAUTHENTICATED``; none of them ever ends the server.

Example::

    from edgeship.serve import create_server, ServeSettings
    from edgeship.serve.grpc_server import GrpcServer

    server = create_server(["runs/m/artifacts"], ServeSettings(port=8000))
    with GrpcServer(server.app, server.settings, port=8001):
        server.serve_forever()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edgeship._lazy import require
from edgeship.errors import ConfigError, EdgeshipError
from edgeship.netutil import listening
from edgeship.serve import grpc_codec, kserve_v2
from edgeship.serve import grpc_messages as pb
from edgeship.serve.app import App
from edgeship.serve.protocol import HttpError, Request
from edgeship.serve.settings import ServeSettings
from edgeship.serve.stats import statistics

log = logging.getLogger("edgeship.serve")
grpc = require("grpc", "serve", "serve KServe v2 over gRPC")

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
# The health methods are open without a token, like their HTTP routes.
_OPEN = {"ServerLive": "/v2/health/live", "ServerReady": "/v2/health/ready"}


class InferenceService:
    """The service's methods over one :class:`App`; each takes a request message."""

    def __init__(self, app: App) -> None:
        self.app = app

    # -- health and metadata ------------------------------------------------------------

    def ServerLive(self, request: Any) -> dict[str, Any]:
        return {"live": True}

    def ServerReady(self, request: Any) -> dict[str, Any]:
        return {"ready": True}

    def ModelReady(self, request: Any) -> dict[str, Any]:
        model = self.app.registry.get(request.name)
        return {"ready": model is not None and request.version in ("", model.version)}

    def ServerMetadata(self, request: Any) -> dict[str, Any]:
        return kserve_v2.server_metadata()

    def ModelMetadata(self, request: Any) -> dict[str, Any]:
        return kserve_v2.model_metadata(self._model(request.name, request.version))

    def ModelConfig(self, request: Any) -> dict[str, Any]:
        return {"config": kserve_v2.model_config(self._model(request.name, request.version))}

    def ModelStatistics(self, request: Any) -> dict[str, Any]:
        if not request.name:
            return statistics(self.app.registry)
        return statistics([self._model(request.name, request.version)])

    # -- model control ------------------------------------------------------------------

    def RepositoryIndex(self, request: Any) -> dict[str, Any]:
        return {"models": self.app.repository.index(ready_only=request.ready)}

    def RepositoryModelLoad(self, request: Any) -> dict[str, Any]:
        self.app.repository.load(request.model_name, dict(request.parameters))
        self.app.metrics.models_loaded = len(self.app.registry)
        return {}

    def RepositoryModelUnload(self, request: Any) -> dict[str, Any]:
        self.app.repository.unload(request.model_name, dict(request.parameters))
        self.app.metrics.models_loaded = len(self.app.registry)
        return {}

    # -- inference ----------------------------------------------------------------------

    def ModelInfer(self, request: Any) -> Any:
        model = self._model(request.model_name, request.model_version)
        start = time.perf_counter()
        ok = False
        try:
            feeds = grpc_codec.decode_inputs(request)
            wanted = grpc_codec.requested_outputs(model, request)
            results = self.app.infer(model, feeds)
            response = grpc_codec.encode_response(model, results, wanted, request.id)
            ok = True
            return response
        finally:
            self.app.record_request(model.name, ok, time.perf_counter() - start)

    def _model(self, name: str, version: str) -> Any:
        return kserve_v2.model_from_registry(self.app.registry, name, version or None)


class _Handlers:
    """Turns :class:`InferenceService` methods into grpc handlers with auth, errors, metrics."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.service = InferenceService(app)

    def unary(self, method: str, request_cls: Any, response_cls: Any) -> Callable[[Any, Any], Any]:
        run = getattr(self.service, method)
        endpoint = "grpc_" + method

        def handler(data: bytes, context: Any) -> Any:
            start = time.perf_counter()
            status, result, retry, model = self._call(method, run, request_cls, data, context)
            label = model if status < 400 and method.startswith("Model") else ""
            self.app.metrics.observe_request(label, endpoint, status, time.perf_counter() - start)
            if status >= 400:
                if retry:
                    context.set_trailing_metadata((("retry-after", retry),))
                context.abort(_CODES.get(status, grpc.StatusCode.INTERNAL), result)
            return pb.from_dict(result, response_cls) if isinstance(result, dict) else result

        return handler

    def _call(
        self, method: str, run: Callable[[Any], Any], request_cls: Any, data: bytes, context: Any
    ) -> tuple[int, Any, str, str]:
        """``(status, response or error message, retry-after or "", model name)``."""
        model = ""
        try:
            metadata = {k.lower(): v for k, v in context.invocation_metadata() or ()}
            path = _OPEN.get(method, f"/{pb.SERVICE}/{method}")
            self.app.auth.check(Request("POST", path, headers=metadata))
            try:
                request = request_cls.FromString(data)
            except Exception as exc:  # protobuf's DecodeError, or worse
                raise HttpError(
                    400,
                    f"The {method} request is not a valid {request_cls.DESCRIPTOR.full_name} "
                    f"message ({len(data)} bytes): {exc}",
                ) from exc
            model = getattr(request, "model_name", "") or getattr(request, "name", "")
            return 200, run(request), "", model
        except HttpError as exc:
            return exc.status, exc.message, exc.headers.get("Retry-After", ""), model
        except (EdgeshipError, ValueError) as exc:
            return (400 if isinstance(exc, ValueError) else 500), str(exc), "", model
        except Exception as exc:  # a bug: report it, keep serving
            log.exception("unexpected error in gRPC %s", method)
            return 500, f"Internal error: {type(exc).__name__}.", "", model

    def stream_infer(self, requests: Iterator[bytes], context: Any) -> Iterator[Any]:
        """ModelStreamInfer: one response (or error message) per request, in order."""
        run, request_cls = self.service.ModelInfer, pb.ModelInferRequest
        for data in requests:
            start = time.perf_counter()
            status, result, _, model = self._call("ModelInfer", run, request_cls, data, context)
            elapsed = time.perf_counter() - start
            label = model if status < 400 else ""
            self.app.metrics.observe_request(label, "grpc_ModelStreamInfer", status, elapsed)
            if status < 400:
                yield pb.ModelStreamInferResponse(infer_response=result)
            else:
                yield pb.ModelStreamInferResponse(error_message=str(result))

    def generic(self) -> Any:
        """The grpc generic handler of the whole service (requests arrive as bytes and are
        parsed in the handler, so a malformed message is an INVALID_ARGUMENT)."""
        handlers = {}
        for method, (request_cls, response_cls, streaming) in pb.METHODS.items():
            if streaming:
                handlers[method] = grpc.stream_stream_rpc_method_handler(
                    self.stream_infer, response_serializer=response_cls.SerializeToString
                )
            else:
                handlers[method] = grpc.unary_unary_rpc_method_handler(
                    self.unary(method, request_cls, response_cls),
                    response_serializer=response_cls.SerializeToString,
                )
        return grpc.method_handlers_generic_handler(pb.SERVICE, handlers)


class GrpcServer:
    """A gRPC server for one :class:`App` (TLS and limits from its :class:`ServeSettings`).

    Args:
        app: the App the HTTP server uses.
        settings: host, TLS files and ``max_body_bytes`` (the largest message accepted).
        port: TCP port; 0 picks a free one.
        threads: RPCs handled at once (the rest wait, up to ``settings.max_connections``).
        reuse_port: listen with ``SO_REUSEPORT`` beside other processes on the same port
            (``--processes``); off, a port that is already taken is an error.
    """

    def __init__(
        self,
        app: App,
        settings: ServeSettings,
        port: int,
        threads: int = 16,
        reuse_port: bool = False,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"gRPC port must be an integer from 0 to 65535. Got: {port!r}")
        self.app = app
        self.settings = settings
        options = [
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc")
        self._server = grpc.server(
            self._executor,
            handlers=[_Handlers(app).generic()],
            options=options,
            maximum_concurrent_rpcs=settings.max_connections,
        )
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        address = f"{host}:{port}"
        if not reuse_port and listening(settings.host, port):
            # Said here, before the gRPC core logs its own bind failure on stderr.
            self.stop(0)
            raise ConfigError(f"Cannot listen for gRPC on {address}: the port is taken.")
        try:
            if settings.tls_cert and settings.tls_key:
                pair = (Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())
                bound = self._server.add_secure_port(address, grpc.ssl_server_credentials([pair]))
            else:
                bound = self._server.add_insecure_port(address)
        except (RuntimeError, OSError) as exc:
            self.stop(0)
            raise ConfigError(f"Cannot listen for gRPC on {address}: {exc}") from exc
        if not bound:
            self.stop(0)
            raise ConfigError(f"Cannot listen for gRPC on {address}: the port is taken.")
        self.port = int(bound)

    @property
    def address(self) -> str:
        """``host:port`` for a gRPC client."""
        host = self.settings.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def start(self) -> GrpcServer:
        """Start serving on grpc's own threads and return self."""
        self._server.start()
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; let running RPCs finish for up to ``grace_s`` seconds; then stop
        the threads that ran them."""
        self._server.stop(grace_s).wait(grace_s + 1)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
