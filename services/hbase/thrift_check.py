#!/usr/bin/env python3
"""Tiny HBase Thrift1 client (buffered binary protocol), stdlib only.

Used by scripts/services.sh to check that the Thrift gateway really answers,
and handy by hand:

  thrift_check.py [--host H] [--port P] ping            # getTableNames
  thrift_check.py smoke                                  # create/put/get/drop a scratch table
  thrift_check.py list                                   # print table names
  thrift_check.py create TABLE [FAMILY...]               # default family "cf"
  thrift_check.py put TABLE ROW FAMILY:QUALIFIER VALUE
  thrift_check.py get TABLE ROW                          # prints column=value lines
  thrift_check.py drop TABLE                             # disable + delete

Exit status 0 on success, 1 on any error (message on stderr).
"""
import argparse
import socket
import struct
import sys
import time

T_STOP, T_BOOL, T_BYTE, T_DOUBLE, T_I16, T_I32, T_I64 = 0, 2, 3, 4, 6, 8, 10
T_STRING, T_STRUCT, T_MAP, T_SET, T_LIST = 11, 12, 13, 14, 15
CALL, REPLY, EXCEPTION = 1, 2, 3
VERSION_1 = 0x80010000


class ThriftError(Exception):
    pass


# ---------------------------------------------------------------- encoding
def _str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">i", len(b)) + b


def f_string(fid, v):
    return struct.pack(">bh", T_STRING, fid) + _str(v)


def f_i32(fid, v):
    return struct.pack(">bhi", T_I32, fid, v)


def f_bool(fid, v):
    return struct.pack(">bhb", T_BOOL, fid, 1 if v else 0)


def f_struct(fid, body):
    return struct.pack(">bh", T_STRUCT, fid) + body + b"\x00"


def f_list_struct(fid, bodies):
    out = struct.pack(">bhbi", T_LIST, fid, T_STRUCT, len(bodies))
    for b in bodies:
        out += b + b"\x00"
    return out


def f_map_str(fid, d):
    out = struct.pack(">bhbbi", T_MAP, fid, T_STRING, T_STRING, len(d))
    for k, v in d.items():
        out += _str(k) + _str(v)
    return out


# ---------------------------------------------------------------- decoding
class Reader:
    def __init__(self, sock):
        self.sock = sock

    def read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ThriftError("connection closed by server")
            buf += chunk
        return buf

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))

    def value(self, ttype):
        if ttype == T_BOOL:
            return self.unpack(">b")[0] != 0
        if ttype == T_BYTE:
            return self.unpack(">b")[0]
        if ttype == T_DOUBLE:
            return self.unpack(">d")[0]
        if ttype == T_I16:
            return self.unpack(">h")[0]
        if ttype == T_I32:
            return self.unpack(">i")[0]
        if ttype == T_I64:
            return self.unpack(">q")[0]
        if ttype == T_STRING:
            (n,) = self.unpack(">i")
            return self.read(n)
        if ttype == T_STRUCT:
            return self.struct()
        if ttype == T_MAP:
            kt, vt, n = self.unpack(">bbi")
            return {self.value(kt): self.value(vt) for _ in range(n)}
        if ttype in (T_LIST, T_SET):
            et, n = self.unpack(">bi")
            return [self.value(et) for _ in range(n)]
        raise ThriftError("unknown thrift type %d" % ttype)

    def struct(self):
        out = {}
        while True:
            (ft,) = self.unpack(">b")
            if ft == T_STOP:
                return out
            (fid,) = self.unpack(">h")
            out[fid] = self.value(ft)


class Client:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.r = Reader(self.sock)
        self.seq = 0

    def call(self, name, args=b""):
        self.seq += 1
        msg = struct.pack(">I", VERSION_1 | CALL) + _str(name) + struct.pack(">i", self.seq)
        self.sock.sendall(msg + args + b"\x00")
        (ver,) = self.r.unpack(">I")
        if ver & 0xFFFF0000 != VERSION_1:
            raise ThriftError("bad thrift reply header %#x (wrong protocol/transport?)" % ver)
        mtype = ver & 0xFF
        rname = self.r.value(T_STRING)
        (seq,) = self.r.unpack(">i")
        body = self.r.struct()
        if mtype == EXCEPTION:
            raise ThriftError("%s: TApplicationException %r" % (name, body.get(1, body)))
        if mtype != REPLY or rname != name.encode() or seq != self.seq:
            raise ThriftError("%s: unexpected reply type=%d name=%r seq=%d" % (name, mtype, rname, seq))
        for fid, val in body.items():
            if fid != 0:  # declared exception (IOError, IllegalArgument, AlreadyExists)
                msg = val.get(1, val) if isinstance(val, dict) else val
                if isinstance(msg, bytes):
                    msg = msg.decode(errors="replace")
                raise ThriftError("%s failed: %s" % (name, str(msg).splitlines()[0] if msg else val))
        return body.get(0)

    # --- Hbase.thrift methods used here
    def table_names(self):
        return [t.decode() for t in self.call("getTableNames") or []]

    def create_table(self, table, families):
        cds = [f_string(1, f if f.endswith(":") else f + ":") + f_i32(2, 1) for f in families]
        self.call("createTable", f_string(1, table) + f_list_struct(2, cds))

    def mutate_row(self, table, row, column, value):
        mut = f_bool(1, False) + f_string(2, column) + f_string(3, value) + f_bool(4, True)
        self.call("mutateRow", f_string(1, table) + f_string(2, row) + f_list_struct(3, [mut]) + f_map_str(4, {}))

    def get_row(self, table, row):
        res = self.call("getRow", f_string(1, table) + f_string(2, row) + f_map_str(3, {})) or []
        out = {}
        for r in res:
            for col, cell in (r.get(2) or {}).items():
                out[col.decode()] = cell.get(1, b"")
        return out

    def drop_table(self, table):
        try:
            if self.call("isTableEnabled", f_string(1, table)):
                self.call("disableTable", f_string(1, table))
        except ThriftError:
            pass
        self.call("deleteTable", f_string(1, table))


def smoke(c):
    t = "__services_sh_check"
    if t in c.table_names():
        c.drop_table(t)
    c.create_table(t, ["cf"])
    c.mutate_row(t, "r1", "cf:q", "v1")
    got = c.get_row(t, "r1")
    if got.get("cf:q") != b"v1":
        raise ThriftError("smoke: read back %r" % got)
    c.drop_table(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9090)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("cmd", choices=["ping", "smoke", "list", "create", "put", "get", "drop"])
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    try:
        c = Client(a.host, a.port, a.timeout)
        if a.cmd == "ping":
            c.table_names()
        elif a.cmd == "list":
            for t in c.table_names():
                print(t)
        elif a.cmd == "smoke":
            t0 = time.time()
            smoke(c)
            print("hbase thrift smoke ok (%.1fs)" % (time.time() - t0))
        elif a.cmd == "create":
            c.create_table(a.args[0], a.args[1:] or ["cf"])
        elif a.cmd == "put":
            c.mutate_row(*a.args[:4])
        elif a.cmd == "get":
            for k, v in sorted(c.get_row(a.args[0], a.args[1]).items()):
                print("%s=%s" % (k, v.decode(errors="replace")))
        elif a.cmd == "drop":
            c.drop_table(a.args[0])
    except (OSError, ThriftError, struct.error, IndexError, TypeError) as e:
        print("thrift_check %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
