"""The client: one Unix-socket connection, ttrpc framing, typed calls."""
import os
import socket
import struct
import threading
from typing import Iterator, List, Optional, Sequence, Tuple, Type, TypeVar

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from .errors import DeadlineExceeded, ProtocolError, Unavailable, error_for
from .messages import daemon_pb2, request_pb2  # also registers every Haven descriptor

REQUEST, RESPONSE, DATA = 1, 2, 3
REMOTE_CLOSED, REMOTE_OPEN, NO_DATA = 0x01, 0x02, 0x04
MAX_DATA = 4 << 20
HEADER = struct.Struct(">IIBB")

M = TypeVar("M", bound=Message)


def response_type_of(service: str, method: str) -> Type[Message]:
    """The generated class a method answers with, looked up in the descriptors
    of the modules in haven_client.messages (e.g. haven.v1.Concerns/Get -> Concern)."""
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    except KeyError:
        found = None
    if found is None:
        raise LookupError("%s/%s is not in this client's protobuf modules; pass response_type, "
                          "or call_raw for the encoded bytes" % (service, method))
    return message_factory.GetMessageClass(found.output_type)


def default_socket_candidates() -> List[str]:
    """Where havend listens when nobody says: $HAVEN_SOCKET, else the desktop
    socket, else the server socket (the same order as the haven CLI)."""
    explicit = os.environ.get("HAVEN_SOCKET")
    if explicit:
        return [explicit]
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp/haven-%d" % os.getuid()
    return [os.path.join(runtime, "haven", "haven.sock"), "/run/haven/haven.sock"]


class Client:
    """A connection to havend.

    Calls are made one at a time on this connection (a lock serialises them);
    a stream holds the connection until it is exhausted or closed, so use a
    second Client to call while you stream. Stopping a stream early (break,
    or closing the generator) closes the connection; the next call dials again.
    """

    def __init__(self, socket_path: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0):
        self.token = token if token is not None else os.environ.get("HAVEN_TOKEN") or None
        self.timeout = timeout
        self._candidates = [socket_path] if socket_path else default_socket_candidates()
        self._explicit = socket_path is not None
        self._sock: Optional[socket.socket] = None
        self._lock = threading.Lock()
        self._connect()

    def _connect(self) -> None:
        last: Optional[Exception] = None
        for path in self._candidates:
            if not self._explicit and not os.path.exists(path):
                continue
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(path)
            except OSError as error:
                sock.close()
                last = error
                continue
            self._sock = sock
            self.socket_path = path
            self._next_stream = 1
            return
        raise Unavailable("could not connect to havend (tried %s): %s. Is havend running?"
                          % (", ".join(self._candidates), last or "no socket file exists"))

    def _connection(self) -> socket.socket:
        # A stream abandoned part-way leaves its connection unusable (ttrpc has
        # no cancel message), so the client drops it and dials again.
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        return self._sock

    # -- lifecycle

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- framing

    def _metadata(self, extra: Sequence[Tuple[str, str]]) -> List[request_pb2.KeyValue]:
        pairs = list(extra)
        if self.token:
            pairs.append(("authorization", "Bearer " + self.token))
        return [request_pb2.KeyValue(key=k, value=v) for k, v in pairs]

    def _send_request(self, service: str, method: str, payload: bytes, flags: int, timeout: Optional[float],
                      metadata: Sequence[Tuple[str, str]]) -> int:
        sock = self._connection()
        stream = self._next_stream
        self._next_stream += 2
        request = request_pb2.Request(service=service, method=method, payload=payload,
                                      timeout_nano=int((timeout or 0) * 1e9), metadata=self._metadata(metadata))
        data = request.SerializeToString()
        sock.sendall(HEADER.pack(len(data), stream, REQUEST, flags) + data)
        return stream

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self._sock.recv(n) if self._sock is not None else b""
            if not chunk:
                self.close()
                raise Unavailable("havend closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self) -> Tuple[int, int, int, bytes]:
        length, stream, kind, flags = HEADER.unpack(self._read_exact(HEADER.size))
        if length > MAX_DATA:
            raise ProtocolError("frame of %d bytes exceeds the 4 MiB limit" % length)
        return stream, kind, flags, self._read_exact(length)

    @staticmethod
    def _check(response: request_pb2.Response) -> bytes:
        if response.HasField("status") and response.status.code != 0:
            raise error_for(response.status.code, response.status.message)
        return response.payload

    # -- calls

    def call_raw(self, service: str, method: str, payload: bytes = b"", timeout: Optional[float] = None,
                 metadata: Sequence[Tuple[str, str]] = ()) -> bytes:
        """One unary call with an encoded payload; returns the encoded response."""
        with self._lock:
            self._connection().settimeout((timeout or self.timeout) + 5)
            stream = self._send_request(service, method, payload, 0, timeout or self.timeout, metadata)
            while True:
                try:
                    got, kind, _flags, data = self._read_frame()
                except socket.timeout:
                    self.close()  # the answer may still arrive; this connection can't tell it apart
                    raise DeadlineExceeded("no answer from havend within %.0f s" % ((timeout or self.timeout) + 5))
                if got != stream:
                    continue  # an answer to an abandoned stream
                if kind != RESPONSE:
                    raise ProtocolError("expected a Response frame on stream %d, got type %d" % (stream, kind))
                try:
                    response = request_pb2.Response.FromString(data)
                except DecodeError as error:
                    raise ProtocolError("undecodable ttrpc.Response: %s" % error)
                return self._check(response)

    def call(self, service: str, method: str, request: Message, response_type: Optional[Type[M]] = None,
             timeout: Optional[float] = None, metadata: Sequence[Tuple[str, str]] = ()) -> M:
        """A typed unary call: raises a HavenError subclass for a non-OK status.
        The response type is found from the method's descriptor unless given."""
        cls = response_type or response_type_of(service, method)
        return cls.FromString(self.call_raw(service, method, request.SerializeToString(), timeout, metadata))

    def stream(self, service: str, method: str, request: Message, response_type: Optional[Type[M]] = None,
               metadata: Sequence[Tuple[str, str]] = ()) -> Iterator[M]:
        """A server-streaming call: yields each message until the stream ends."""
        response_type = response_type or response_type_of(service, method)
        with self._lock:
            self._connection().settimeout(None)
            stream = self._send_request(service, method, request.SerializeToString(), REMOTE_CLOSED, None, metadata)
            finished = False
            try:
                while True:
                    got, kind, flags, data = self._read_frame()
                    if got != stream:
                        continue
                    if kind == DATA:
                        if not flags & NO_DATA:
                            yield response_type.FromString(data)
                        if flags & REMOTE_CLOSED:
                            finished = True
                            return
                    elif kind == RESPONSE:
                        finished = True
                        payload = self._check(request_pb2.Response.FromString(data))
                        if payload:
                            yield response_type.FromString(payload)
                        return
                    else:
                        raise ProtocolError("unexpected frame type %d on stream %d" % (kind, stream))
            finally:
                if not finished:
                    self.close()  # the caller stopped early: drop the half-read stream

    # -- conveniences

    def hello(self, client_name: str = "haven-client.py") -> daemon_pb2.HelloResponse:
        return self.call("haven.v1.Daemon", "Hello", daemon_pb2.HelloRequest(client_name=client_name, client_version="0.1.0"),
                         daemon_pb2.HelloResponse)

    def health(self) -> daemon_pb2.HealthResponse:
        return self.call("haven.v1.Daemon", "Health", daemon_pb2.HealthRequest(), daemon_pb2.HealthResponse)
