#!/usr/bin/env python3
"""Check that a Kafka broker really answers (stdlib only), for scripts/services.sh.

  kafka_check.py [--host H] [--port P]

Sends ApiVersions v0, then a Metadata request (v4..v8, whichever the broker
supports; non-flexible encodings) and succeeds only when the broker lists at
least one live broker and an active controller. Exit 0 ok, 1 otherwise.
"""
import argparse
import socket
import struct
import sys


class KafkaError(Exception):
    pass


def _string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.corr = 0

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise KafkaError("connection closed by broker")
            buf += chunk
        return buf

    def request(self, api_key, version, body):
        self.corr += 1
        hdr = struct.pack(">hhi", api_key, version, self.corr) + _string("services.sh")
        msg = hdr + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (n,) = struct.unpack(">i", self._read(4))
        resp = self._read(n)
        (corr,) = struct.unpack(">i", resp[:4])
        if corr != self.corr:
            raise KafkaError("correlation id mismatch")
        return resp[4:]


class Buf:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.b[self.o:self.o + n].decode()
        self.o += n
        return s


def check(host, port, timeout):
    c = Conn(host, port, timeout)
    # ApiVersions v0: empty body; response: error_code, [api_key, min, max]
    r = Buf(c.request(18, 0, b""))
    err = r.take(">h")
    if err != 0:
        raise KafkaError("ApiVersions error code %d" % err)
    versions = {}
    for _ in range(r.take(">i")):
        k, lo, hi = r.take(">hhh")
        versions[k] = (lo, hi)
    lo, hi = versions.get(3, (0, -1))
    usable = [v for v in range(4, 9) if lo <= v <= hi]
    if not usable:
        raise KafkaError("no Metadata version in 4..8 supported (broker has %d..%d)" % (lo, hi))
    v = max(usable)
    # Metadata v4..v8 request: topics (empty array: no topics), allow_auto_topic_creation,
    # v8+: include_cluster_authorized_operations, include_topic_authorized_operations
    body = struct.pack(">i", 0) + b"\x00"
    if v >= 8:
        body += b"\x00\x00"
    r = Buf(c.request(3, v, body))
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node = r.take(">i")
        host_ = r.string()
        port_ = r.take(">i")
        r.string()  # rack
        brokers.append("%d@%s:%d" % (node, host_, port_))
    cluster = r.string()
    controller = r.take(">i")
    if not brokers:
        raise KafkaError("metadata lists no live broker yet")
    if controller < 0:
        raise KafkaError("no active controller yet")
    return "cluster=%s brokers=%s controller=%d" % (cluster, ",".join(brokers), controller)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    try:
        info = check(a.host, a.port, a.timeout)
    except (OSError, KafkaError, struct.error) as e:
        print("kafka_check: %s" % e, file=sys.stderr)
        return 1
    if a.verbose:
        print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
