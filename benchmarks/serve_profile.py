"""Where a request's CPU goes inside `edgeship serve`, without HTTP: `App.handle` and the
ASGI adapter in process, timed over N requests, and a cProfile of the same loop.

    python benchmarks/serve_profile.py                    # timing, then the top of cProfile
    python benchmarks/serve_profile.py --n 20000 --no-profile
    python benchmarks/serve_profile.py --protocol v2-binary

The request is the one ``serve_http.py`` sends (digits CNN ``tflite-fp32``, batch 1), and for
v2 JSON the same ASGI call is timed on that script's bare Starlette endpoint (the floor). Timings
are CPU time per request: the best of ``--repeats`` loops of ``--n`` calls
(``time.process_time``, steadier than wall time on a shared machine),
beside ``Engine.predict`` on the same input (the floor any server pays). cProfile inflates
every Python call, so read its output as shares, not microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _per_call_us(fn: Any, n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            fn()
        times.append((time.process_time() - start) / n * 1e6)
    return min(times)


def _asgi_call(adapter: Any, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """One request through the ASGI adapter with in-memory receive/send (no sockets)."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "query_string": b"", "headers": raw}  # fmt: skip
    message = {"type": "http.request", "body": body, "more_body": False}

    class _Cycle:  # as uvicorn's request cycle: the body has arrived
        def __init__(self) -> None:
            self.message_event = asyncio.Event()
            self.message_event.set()

        async def receive(self) -> dict[str, Any]:
            return message

    receive = _Cycle().receive

    async def send(msg: Any) -> None:
        return None

    async def many(n: int) -> None:
        for _ in range(n):
            await adapter(scope, receive, send)

    return many


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default=None, help="tflite model (default: digits CNN fp32)")
    p.add_argument("--protocol", default="v2-json", choices=("v2-json", "v2-binary", "tfserving"))
    p.add_argument("--n", type=int, default=10000, help="calls per timed loop")
    p.add_argument("--repeats", type=int, default=5, help="timed loops (median reported)")
    p.add_argument("--no-profile", action="store_true", help="timing only")
    p.add_argument("--top", type=int, default=30, help="cProfile rows to print")
    args = p.parse_args()

    from serve_http import bare_app, payloads
    from serve_load import digit_inputs, prepare_model

    from edgeship.serve import App, ServeSettings, load_registry
    from edgeship.serve.asgi import AsgiAdapter
    from edgeship.serve.protocol import Request
    from edgeship.serve.server import new_event_loop

    model = Path(args.model) if args.model else prepare_model(ROOT / "runs" / "serve_bench")
    x = digit_inputs(1)
    registry = load_registry([model])
    app = App(registry)
    name = registry.names[0]
    path_t, body, headers = payloads(model, x)[args.protocol]
    path = path_t.format(m=name)
    request = Request("POST", path, headers={k.lower(): v for k, v in headers.items()}, body=body)
    first = app.handle(request)
    if first.status != 200:
        print(f"serve_profile: the request failed: {first.status} {first.body[:300]!r}")
        return 1
    engine = registry.get(name).engines[0] if registry.get(name).engines else None  # type: ignore[union-attr]
    adapter = AsgiAdapter(app, ServeSettings())
    many = _asgi_call(adapter, path, body, headers)
    loop = new_event_loop()  # uvloop, as the server runs

    rows = {"App.handle": _per_call_us(lambda: app.handle(request), args.n, args.repeats)}
    rows["ASGI adapter + App"] = min(_timed_loop(loop, many, args.n) for _ in range(args.repeats))
    if args.protocol == "v2-json":  # the bare Starlette endpoint of serve_http.py, same input
        bare = _asgi_call(bare_app(str(model)), path, body, headers)
        rows["bare Starlette"] = min(_timed_loop(loop, bare, args.n) for _ in range(args.repeats))
    if engine is not None:
        rows["Engine.predict"] = _per_call_us(lambda: engine.predict(x), args.n, args.repeats)
    for label, us in rows.items():
        print(
            f"{label:<22} {us:7.1f} µs/request  ({args.protocol}, CPU time, best of {args.repeats})"
        )
    if not args.no_profile:
        prof = cProfile.Profile()
        prof.enable()
        loop.run_until_complete(many(args.n))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    loop.close()
    adapter.close()
    registry.close()
    return 0


def _timed_loop(loop: asyncio.AbstractEventLoop, many: Any, n: int) -> float:
    start = time.process_time()
    loop.run_until_complete(many(n))
    return (time.process_time() - start) / n * 1e6


if __name__ == "__main__":
    sys.exit(main())
