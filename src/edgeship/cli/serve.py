"""`edgeship serve`: serve artifacts over HTTP (KServe v2, TF Serving REST, image classify)."""

from __future__ import annotations

import signal
import sys
from typing import Any

from edgeship.cli._common import add_command, print_json
from edgeship.errors import ConfigError

SUMMARY = "serve artifacts over HTTP: KServe v2 (tritonclient), TF Serving REST, image classify"
EXAMPLES = """\
  edgeship serve runs/m/artifacts       # every 'ok' variant of a convert output, named by variant
  curl localhost:8000/v2/models/tflite-int8
  curl -X POST localhost:8000/v1/models/tflite-fp32:predict -d '{"instances": [...]}'
  curl -X POST localhost:8000/v1/models/tflite-fp32:classify?top_k=3 --data-binary @digit.png
  edgeship serve model.tflite --port 8080 --workers 2   # one file: named by its card or stem
  edgeship serve runs/m/artifacts --processes 4   # 4 processes, each with its own engines
  curl -X POST localhost:8080/v2/repository/index   # lists the names it serves
  edgeship serve runs/m/artifacts --host 0.0.0.0 --token-file token.txt \\
      --tls-cert cert.pem --tls-key key.pem
"""
BACKENDS = ("auto", "litert", "tflite-runtime", "tf-lite", "onnxruntime")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "serve", SUMMARY, EXAMPLES)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="artifact file(s) or directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--workers", type=int, default=1, help="engines per model (default 1)")
    parser.add_argument(
        "--processes", type=int, default=1, help="server processes sharing the port (default 1)"
    )
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="runtime backend")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads")
    parser.add_argument("--max-body-mb", type=float, default=16.0, help="request body limit")
    parser.add_argument(
        "--request-timeout", type=float, default=30.0, help="seconds a silent client is kept"
    )
    parser.add_argument("--max-connections", type=int, default=256, help="connections at once")
    parser.add_argument("--token-file", default=None, help="require 'Authorization: Bearer'")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate (enables HTTPS)")
    parser.add_argument("--tls-key", default=None, help="PEM private key")
    parser.add_argument("--access-log", action="store_true", help="log each request on stderr")
    parser.add_argument("--json", action="store_true", help="print the URL and models as JSON")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    import logging

    from edgeship.serve import ServeSettings, create_server, read_token_file

    if not 0 < args.max_body_mb <= 4096:
        raise ConfigError(f"--max-body-mb must lie in (0, 4096]. Got: {args.max_body_mb}")
    if not 1 <= args.processes <= 64:
        raise ConfigError(f"--processes must be an integer from 1 to 64. Got: {args.processes}")
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
            args.paths, settings, backend=args.backend, threads=args.threads, workers=args.workers
        )
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {args.host}:{args.port}: {exc}") from exc
    models = [
        {"name": m.name, "path": str(m.path), "format": m.platform, "backend": m.backend}
        for m in server.app.registry
    ]

    def announce() -> None:
        if args.json:
            print_json({"url": server.url, "models": models})
        else:
            print(f"edgeship serve: {len(models)} model(s) at {server.url}", flush=True)
            for m in models:
                print(f"  {m['name']:<24} {m['backend']:<14} {m['path']}", flush=True)
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
        options = {"backend": args.backend, "threads": args.threads, "workers": args.workers}
        return serve_processes(
            args.paths, settings, server.socket, args.processes, options, announce=announce
        )

    def _terminate(signum: int, frame: Any) -> None:
        server.stop()  # graceful: stop accepting, finish the requests in flight

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    announce()  # after the handlers: a client may signal as soon as it reads this
    try:
        server.serve_forever()
    finally:
        server.app.registry.close()
    return 0
