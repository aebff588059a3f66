"""`edgeship serve`: serve artifacts over HTTP (KServe v2, TF Serving REST, image classify)
and KServe v2 gRPC."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from edgeship.cli._common import add_command, add_json_flag, print_json
from edgeship.cli._discovery import add_discovery_flags, discovery_policy
from edgeship.cli._runtime_flags import add_accelerator_flag, add_runtime_flags
from edgeship.errors import ConfigError

SUMMARY = "serve artifacts: KServe v2 over HTTP and gRPC (tritonclient), TF Serving REST, classify"
EXAMPLES = """\
  edgeship serve runs/m/artifacts       # every 'ok' variant of a convert output, named by variant
  curl localhost:8000/v2/models/tflite-int8
  curl -X POST localhost:8000/v1/models/tflite-fp32:predict -d '{"instances": [...]}'
  curl -X POST localhost:8000/v1/models/tflite-fp32:classify?top_k=3 --data-binary @digit.png
  edgeship serve model.tflite --port 8080 --workers 2   # one file: named by its card or stem
  edgeship serve out/tflite-int8.tflite out/onnx-fp32.onnx   # one card: <card>-<variant> names
  edgeship serve --name digits=out/tflite-int8.tflite --name digits-onnx=out/onnx-fp32.onnx
  edgeship serve runs/m/artifacts --processes 4   # 4 processes, own engines, HTTP and gRPC
  curl -X POST localhost:8080/v2/repository/index   # lists the names it serves
  edgeship serve runs/m/artifacts --host 0.0.0.0 --token-file token.txt \\
      --tls-cert cert.pem --tls-key key.pem
  edgeship serve runs/m/artifacts --grpc-port 9001   # KServe v2 gRPC there (0: no gRPC)
  edgeship serve runs/m/artifacts \\
      --dynamic-batching max_batch_size=8,max_queue_delay_microseconds=500
  edgeship serve runs/m/artifacts \\
      --dynamic-batching tflite-fp32:max_batch_size=16,preferred_batch_size=4/8
  edgeship serve runs/m/artifacts --model-control explicit   # clients may load/unload models
  curl -X POST localhost:8000/v2/repository/models/tflite-int8/unload
  curl localhost:8000/v2/models/tflite-int8/stats
  edgeship serve runs/m/artifacts/onnx-fp32.onnx --backend openvino --accelerator GPU
  edgeship serve runs/m/artifacts/tflite-int8.tflite --backend litert-compiled --accelerator cpu
"""
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "serve", SUMMARY, EXAMPLES)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="artifact file(s) or directory")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve the artifact file PATH as NAME (renames it when PATH is served already); "
        "repeatable",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--workers", type=int, default=1, help="engines per model (default 1)")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes sharing the port (default 1)"
    )
    add_runtime_flags(parser, accelerators=False, backend_choices=True)
    add_accelerator_flag(parser)
    parser.add_argument("--max-body-mb", type=float, default=16.0, help="request body limit")
    parser.add_argument(
        "--request-timeout", type=float, default=30.0, help="seconds a silent client is kept"
    )
    parser.add_argument("--max-connections", type=int, default=256, help="connections at once")
    parser.add_argument("--token-file", default=None, help="require 'Authorization: Bearer'")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate (enables HTTPS)")
    parser.add_argument("--tls-key", default=None, help="PEM private key")
    parser.add_argument("--access-log", action="store_true", help="log each request on stderr")
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        help="KServe v2 gRPC port (default 8001; 0: off)",
    )
    parser.add_argument(
        "--dynamic-batching",
        action="append",
        default=[],
        metavar="[MODEL:]KEY=V,...",
        help="batch concurrent requests (Triton's dynamic_batching): max_batch_size, "
        "preferred_batch_size (e.g. 4/8), max_queue_delay_microseconds, max_queue_size, "
        "timeout_microseconds; without MODEL: every model; repeatable",
    )
    parser.add_argument(
        "--model-control",
        default="none",
        choices=("none", "explicit"),
        help="explicit: clients may load/unload models of PATH (POST /v2/repository/...)",
    )
    add_discovery_flags(parser, "serve")
    add_json_flag(parser, "the URL and models")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    import logging

    from edgeship.serve import ServeSettings, create_server, read_token_file
    from edgeship.serve.batching import parse_batching_spec

    names = _names(args)
    if not 0 < args.max_body_mb <= 4096:
        raise ConfigError(f"--max-body-mb must lie in (0, 4096]. Got: {args.max_body_mb}")
    if not 1 <= args.processes <= 64:
        raise ConfigError(f"--processes must be an integer from 1 to 64. Got: {args.processes}")
    if args.grpc_port is None:
        args.grpc_port = 8001
    if not 0 <= args.grpc_port <= 65535:
        raise ConfigError(f"--grpc-port must lie in [0, 65535] (0: off). Got: {args.grpc_port}")
    batching = {}
    for spec in args.dynamic_batching:
        name, config = parse_batching_spec(spec)
        if name in batching:
            raise ConfigError(f"--dynamic-batching is given twice for {name!r}.")
        batching[name] = config
    if args.processes > 1 and args.model_control != "none":
        raise ConfigError(
            "--model-control explicit needs one process (a load or unload would reach only one "
            "of them): drop --processes or --model-control."
        )
    token = read_token_file(args.token_file) if args.token_file else None
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        max_body_bytes=max(1024, int(args.max_body_mb * 1024 * 1024)),
        request_timeout_s=args.request_timeout,
        max_connections=args.max_connections,
        token=token,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        access_log=args.access_log,
    )
    logging.basicConfig(level=logging.INFO if args.access_log else logging.WARNING)
    try:
        server = create_server(
            args.paths,
            settings,
            backend=args.backend,
            threads=args.threads,
            device=args.accelerator,
            workers=args.workers,
            batching=batching,
            model_control=args.model_control,
            discovery=discovery_policy(args),
            names=names,
        )
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {args.host}:{args.port}: {exc}") from exc
    grpc_server = _start_grpc(server, args.grpc_port, args.processes)
    models: list[dict[str, str | None]] = [
        {"name": m.name, "path": str(m.path), "format": m.platform, "backend": m.backend,
         "device": m.device}
        for m in server.app.registry
    ]  # fmt: skip

    def announce() -> None:
        grpc_address = grpc_server.address if grpc_server else None
        if args.json:
            print_json({"url": server.url, "grpc": grpc_address, "models": models})
        else:
            print(f"edgeship serve: {len(models)} model(s) at {server.url}", flush=True)
            if grpc_address:
                print(f"edgeship serve: KServe v2 gRPC at {grpc_address}", flush=True)
            name_width = max((len(str(m["name"])) for m in models), default=0)
            runs_on = [
                f"{m['backend']}" + (f"@{m['device']}" if m["device"] else "") for m in models
            ]
            backend_width = max((len(b) for b in runs_on), default=0)
            for m, backend in zip(models, runs_on, strict=True):
                print(
                    f"  {m['name']!s:<{name_width}}  {backend:<{backend_width}}  {m['path']}",
                    flush=True,
                )
        if args.host not in LOOPBACK and token is None:
            print(
                f"edgeship serve: warning: listening on {args.host} without --token-file: "
                "anyone who can reach this address can use the models.",
                file=sys.stderr,
            )
        sys.stdout.flush()

    if args.processes > 1:
        from edgeship.serve.processes import serve_processes

        server.app.registry.close()  # loaded once to check the paths; each worker loads its own
        options = {"backend": args.backend, "threads": args.threads, "workers": args.workers,
                   "device": args.accelerator,
                   "batching": batching, "names": names,
                   "discovery": discovery_policy(args),
                   "grpc_port": grpc_server.port if grpc_server else 0}  # fmt: skip
        try:
            return serve_processes(
                args.paths, settings, server.socket, args.processes, options, announce=announce
            )
        finally:
            if grpc_server is not None:
                grpc_server.stop()  # the held port

    def _terminate(signum: int, frame: Any) -> None:
        if grpc_server is not None:
            threading.Thread(target=grpc_server.stop, daemon=True).start()
        server.stop()  # graceful: stop accepting, finish the requests in flight

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    announce()  # after the handlers: a client may signal as soon as it reads this
    try:
        server.serve_forever()
    finally:
        if grpc_server is not None:
            grpc_server.stop()
        server.app.registry.close()
    return 0


def _names(args: Any) -> dict[str, str]:
    """``--name NAME=PATH`` options as ``{name: path}``, checked against the other options."""
    from edgeship.serve.naming import parse_name

    names: dict[str, str] = {}
    for spec in args.name:
        name, path = parse_name(spec)
        if name in names:
            raise ConfigError(f"--name {name} is given twice. Give each model one name.")
        names[name] = path
    if not args.paths and not names:
        raise ConfigError(
            "Expected an artifact file or directory to serve (PATH or --name NAME=PATH). Got none."
        )
    if names and args.model_control != "none":
        raise ConfigError(
            "--name cannot be combined with --model-control explicit: the model repository "
            "names models by their paths. Drop one of them."
        )
    return names


def _start_grpc(server: Any, port: int, processes: int = 1) -> Any:
    """Start KServe v2 gRPC on ``port`` beside ``server`` (None when ``port`` is 0); with
    several processes, hold the port for the workers, which each serve gRPC on it."""
    if not port:
        return None
    try:
        if processes > 1:
            from edgeship.serve.processes import GrpcPort

            return GrpcPort(server.settings.host, port)
        from edgeship.serve.grpc_server import GrpcServer

        return GrpcServer(server.app, server.settings, port).start()
    except BaseException:
        server.app.registry.close()
        raise
