"""A minimal RESP2 client: the standard library only, standing in for redis-py."""
import socket


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def close(self):
        self.reader.close()
        self.sock.close()

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    def _read(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = self.reader.read(length + 2)[:-2]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            length = int(rest)
            return None if length < 0 else [self._read() for _ in range(length)]
        raise RedisError("bad reply %r" % line)

    def call(self, *args):
        self.sock.sendall(self._encode(args))
        reply = self._read()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self._encode(c) for c in commands))
        return [self._read() for _ in commands]


def pairs(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat or []) - 1, 2)}


def xrange_iter(redis, stream, page=1000):
    """Every entry of a stream as (id, fields), a page at a time: a stream of a million entries
    never sits in memory whole."""
    start = "-"
    while True:
        batch = redis.call("XRANGE", stream, start, "+", "COUNT", page) or []
        for entry_id, fields in batch:
            yield entry_id, pairs(fields)
        if len(batch) < page:
            return
        start = "(" + batch[-1][0]


def xrange_all(redis, stream):
    return list(xrange_iter(redis, stream))
