"""Regenerate src/edgeship/serve/_kserve_v2_descriptor.py from proto/kserve_v2.proto.

The server builds its gRPC message classes at import time from this serialized
``FileDescriptorProto`` in a private descriptor pool, so no generated ``*_pb2.py`` (tied to
the protobuf version of the compiler that wrote it) is committed, and a client's own copy of
the same protocol (e.g. tritonclient's) can live in the same process.

Usage (needs ``pip install grpcio-tools``, in any environment)::

    python scripts/gen_kserve_descriptor.py
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "src" / "edgeship" / "serve"
PROTO = ROOT / "proto" / "kserve_v2.proto"
OUT = SERVE / "_kserve_v2_descriptor.py"
HEADER = '''"""Serialized FileDescriptorProto of kserve_v2.proto. Generated: do not edit.

Regenerate with ``python scripts/gen_kserve_descriptor.py`` after editing proto/kserve_v2.proto.
"""

import base64

SERIALIZED = base64.b64decode(
'''


def main() -> int:
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO.parent}",
                f"--descriptor_set_out={out}",
                PROTO.name,
            ],
            check=True,
        )
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    if len(files) != 1:
        raise SystemExit(f"expected one file in the descriptor set, got {len(files)}")
    data = files[0].SerializeToString(deterministic=True)
    text = base64.b64encode(data).decode("ascii")
    lines = [f'    "{text[i : i + 88]}"\n' for i in range(0, len(text), 88)]
    OUT.write_text(HEADER + "".join(lines) + ")\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
