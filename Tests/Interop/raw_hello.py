#!/usr/bin/env python3
"""Calls haven.v1.Daemon/Hello over havend's Unix socket with nothing but the
Python standard library and the protobuf runtime: no generated code, no Haven
client library. It frames ttrpc by hand (as Docs/protocol.md describes),
bootstraps with Daemon/Describe, and builds message classes from the
descriptors the daemon serves.

    python3 raw_hello.py /path/to/haven.sock

Prints the HelloResponse as JSON.
"""
import json
import socket
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

REQUEST, RESPONSE, DATA = 1, 2, 3


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def length_delimited(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def frame(stream_id, msg_type, flags, data):
    # 10-byte header: u32 BE length, u32 BE stream id, u8 type, u8 flags.
    return struct.pack(">IIBB", len(data), stream_id, msg_type, flags) + data


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("havend closed the connection")
        buf += chunk
    return buf


def read_frame(sock):
    length, stream_id, msg_type, flags = struct.unpack(">IIBB", read_exact(sock, 10))
    return stream_id, msg_type, flags, read_exact(sock, length)


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def parse_fields(data):
    """A minimal protobuf wire parser: field number -> list of raw values."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value = data[i:i + length]
            i += length
        else:
            raise ValueError("unexpected wire type %d" % wire)
        fields.setdefault(number, []).append(value)
    return fields


def call_by_hand(sock, stream_id, service, method, payload=b""):
    """ttrpc.Request{service=1, method=2, payload=3}, encoded by hand."""
    request = length_delimited(1, service.encode()) + length_delimited(2, method.encode())
    if payload:
        request += length_delimited(3, payload)
    sock.sendall(frame(stream_id, REQUEST, 0, request))
    got_id, msg_type, _flags, data = read_frame(sock)
    assert got_id == stream_id and msg_type == RESPONSE, (got_id, msg_type)
    response = parse_fields(data)  # ttrpc.Response{status=1, payload=2}
    if 1 in response:
        status = parse_fields(response[1][0])
        code = status.get(1, [0])[0]
        if code:
            raise RuntimeError("status %d: %s" % (code, status.get(2, [b""])[0].decode()))
    return response.get(2, [b""])[0]


def message_class(pool, name):
    descriptor = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def main():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[1])

    # 1. Describe, framed and encoded by hand.
    describe = parse_fields(call_by_hand(sock, 1, "haven.v1.Daemon", "Describe"))
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(describe[1][0])
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        pool.Add(file)

    # 2. Hello, with message classes built from the daemon's own descriptors.
    HelloRequest = message_class(pool, "haven.v1.HelloRequest")
    HelloResponse = message_class(pool, "haven.v1.HelloResponse")
    Request = message_class(pool, "ttrpc.Request")
    Response = message_class(pool, "ttrpc.Response")

    request = Request(service="haven.v1.Daemon", method="Hello",
                      payload=HelloRequest(client_name="raw_hello.py").SerializeToString())
    sock.sendall(frame(3, REQUEST, 0, request.SerializeToString()))
    stream_id, msg_type, _flags, data = read_frame(sock)
    assert (stream_id, msg_type) == (3, RESPONSE)
    response = Response.FromString(data)
    if response.status.code:
        raise RuntimeError(response.status.message)
    hello = HelloResponse.FromString(response.payload)
    print(json.dumps(json.loads(json_format.MessageToJson(hello)), sort_keys=True))


if __name__ == "__main__":
    main()
