"""HTTP inference server: KServe v2 (with binary tensors), TF Serving REST, image classify.

Imports only the standard library, numpy, the runtime backend a model needs and the HTTP
server of the ``serve`` extra (uvicorn, httptools, uvloop, orjson; Pillow for the classify
endpoint); never TensorFlow. Example::

    from edgeship.serve import ServeSettings, create_server

    with create_server(["runs/m/artifacts"], ServeSettings(port=0)) as server:
        print(server.url)   # http://127.0.0.1:PORT

"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence

from edgeship.discovery import DiscoveryPolicy
from edgeship.serve.app import App
from edgeship.serve.auth import BearerAuth, read_token_file
from edgeship.serve.batching import BatchingConfig
from edgeship.serve.model_control import ModelControl, ModelRepository
from edgeship.serve.registry import Loader, ModelRegistry, ServedModel, load_registry
from edgeship.serve.server import Server, ServerStartError
from edgeship.serve.settings import ServeSettings

__all__ = [
    "App",
    "BatchingConfig",
    "BearerAuth",
    "DiscoveryPolicy",
    "ModelControl",
    "ModelRegistry",
    "ServeSettings",
    "ServedModel",
    "Server",
    "ServerStartError",
    "create_server",
    "load_registry",
    "read_token_file",
]


def create_server(
    paths: Sequence[str | os.PathLike[str]],
    settings: ServeSettings | None = None,
    *,
    backend: str = "auto",
    threads: int | None = None,
    device: str | None = None,
    workers: int = 1,
    loader: Loader | None = None,
    batching: Mapping[str, BatchingConfig] | None = None,
    model_control: ModelControl | str = ModelControl.NONE,
    sock: socket.socket | None = None,
    names: Mapping[str, str | os.PathLike[str]] | None = None,
    discovery: DiscoveryPolicy | None = None,
) -> Server:
    """Load the models under ``paths`` and build a (not yet started) :class:`Server`.

    Args:
        paths: artifact files or directories (a convert output directory serves its ``ok``
            variants).
        settings: host, port, limits, token, TLS; defaults to loopback port 8000.
        backend: runtime backend for every model (``auto`` picks per format).
        threads: interpreter threads per engine.
        device: device or accelerator of the openvino / litert-compiled backend (e.g.
            ``"CPU"``, ``"gpu"``); None: the backend's default (the CPU).
        workers: engines per model (requests that run a model at the same time).
        loader: replacement for ``edgeship.runtime.load`` (same signature).
        batching: dynamic batching by model name (``"*"``: every model); off by default.
        model_control: ``"explicit"`` lets clients load and unload models from ``paths``.
        sock: an already bound, listening socket to serve on (else one is bound).
        names: ``{name: artifact file}`` to serve (or rename) under these names.
        discovery: serve directories without a manifest, or failed variants (default: no).

    Returns:
        The server; call ``serve_forever()``, or use it as a context manager.
    """
    settings = settings or ServeSettings()
    registry = load_registry(
        paths,
        backend=backend,
        threads=threads,
        device=device,
        workers=workers,
        loader=loader,
        batching=batching,
        names=names,
        discovery=discovery,
    )
    try:
        app = App(
            registry,
            BearerAuth(settings.token),
            max_body_bytes=settings.max_body_bytes,
            repository=ModelRepository(registry, paths, model_control),
        )
        return Server(app, settings, sock=sock)
    except BaseException:
        registry.close()
        raise
