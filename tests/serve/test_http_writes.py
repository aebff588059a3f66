"""A response leaves in one write (head and body together); `100 Continue` is never held."""

from __future__ import annotations

import json
import socket

from edgeship.serve.server import _HeadWithBody


class _Recorder:
    """The transport a response cycle writes to, recording each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_the_head_waits_for_the_body_and_both_leave_in_one_write():
    sink = _Recorder()
    transport = _HeadWithBody(sink)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert sink.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # interim: at once
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert len(sink.writes) == 1  # the head is held ...
    transport.write(b"{}")
    assert sink.writes[1] == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"  # ... then joined
    transport.write(b"more")
    assert sink.writes[2] == b"more"  # later writes pass
    assert not transport.is_closing()  # everything else is the real transport's


def test_close_sends_a_held_head_first():
    sink = _Recorder()
    transport = _HeadWithBody(sink)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n")
    transport.close()
    assert sink.writes == [b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n"]
    assert sink.closed


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(
        line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
            b"content-length")))  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_expect_100_continue_gets_its_interim_answer_then_the_response(server):
    body = json.dumps({"instances": [[[[0.0]] * 8] * 8]}).encode()
    head = (
        b"POST /v1/models/tflite-fp32:predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)  # the server must answer before the body is sent
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(body)
        status, reply = _read_response(sock)
    assert status.startswith(b"HTTP/1.1 200"), status
    assert len(json.loads(reply)["predictions"][0]) == 10


def test_keep_alive_responses_arrive_whole_and_in_order(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        for path in (b"/v2/health/ready", b"/v2", b"/v2/models/tflite-fp32", b"/v2/health/live"):
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            status, body = _read_response(sock)
            assert status.startswith(b"HTTP/1.1 200"), (path, status)
            if path == b"/v2/models/tflite-fp32":
                assert json.loads(body)["name"] == "tflite-fp32"
