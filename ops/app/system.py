"""The whole system as people start it: `bookdelivery up` (its own redis-server, Redis users, keys,
the four services and a gateway with --demo) on free ports in a temp directory, plus extra gateways a
test needs (a low rate limit, no demo). Tokens come from up's own output."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness.processes import free_port, keep_or_remove, wait_for  # noqa: E402
from harness.resp import Redis  # noqa: E402

SERVICES = ["rental", "delivery", "lookup", "notifier"]


class System:
    def __init__(self, binary, name):
        self.binary = os.path.abspath(binary)
        self.root = tempfile.mkdtemp(prefix="bookdelivery-%s-" % name)
        self.data = os.path.join(self.root, "data")
        self.ports = {service: free_port() for service in SERVICES + ["gateway"]}
        self.redis_port = free_port()
        self.log_path = os.path.join(self.root, "up.log")
        self.extra = []
        arguments = [self.binary, "up", "--data", self.data, "--redis-port", str(self.redis_port)]
        for name_, port in self.ports.items():
            arguments += ["--port", "%s=%d" % (name_, port)]
        self.log = open(self.log_path, "wb")
        self.up = subprocess.Popen(arguments, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, LOG_LEVEL="warning"))
        wait_for(lambda: b"Press Ctrl-C to stop." in open(self.log_path, "rb").read() or self.up.poll() is not None, 120,
                 "bookdelivery up (see %s)" % self.log_path)
        if self.up.poll() is not None:
            raise RuntimeError("bookdelivery up exited; see %s" % self.log_path)
        output = open(self.log_path, encoding="utf-8", errors="replace").read()
        self.tokens = {m.group(1).lower(): m.group(2) for m in re.finditer(r"export (ALICE|BOB|COURIER|ADMIN)=(\S+)", output)}
        assert set(self.tokens) == {"alice", "bob", "courier", "admin"}, "up printed the four tokens"

    @property
    def gateway_url(self):
        return "http://127.0.0.1:%d" % self.ports["gateway"]

    @property
    def keys(self):
        return os.path.join(self.data, "keys")

    def secret(self, user):
        return os.path.join(self.data, "secrets", "%s.password" % user)

    def redis(self, user="admin"):
        """A RESP connection logged in as one of up's Redis users."""
        client = Redis(self.redis_port)
        password = open(self.secret(user)).read().strip()
        reply = client.call("AUTH", user, password)
        assert reply == "OK", reply
        return client

    def start_gateway(self, *options):
        """Another gateway in front of the same instances, e.g. with a low rate limit."""
        port = free_port()
        log = open(os.path.join(self.root, "gateway-%d.log" % port), "wb")
        arguments = [self.binary, "gateway", "--port", str(port), "--keys", self.keys, "--drain", "0",
                     "--redis", "redis://gateway@127.0.0.1:%d" % self.redis_port, "--redis-password-file", self.secret("gateway")]
        for service in SERVICES:
            arguments += ["--%s" % service, "http://127.0.0.1:%d" % self.ports[service]]
        process = subprocess.Popen(arguments + list(options), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, LOG_LEVEL="warning"))
        self.extra.append(process)
        url = "http://127.0.0.1:%d" % port
        wait_for(lambda: self._answers(url + "/ready"), 30, "the extra gateway on %d" % port)
        wait_for(lambda: all(pool["ready"] == pool["instances"] for pool in self.get(url + "/health")[1]["pools"].values()), 30,
                 "the extra gateway's pools to be ready")
        return url

    def _answers(self, url):
        try:
            return self.get(url)[0] == 200
        except OSError:
            return False

    @staticmethod
    def request(url, method="GET", body=None, token=None, headers=None):
        """(status, parsed JSON or None, headers) of one request."""
        match = re.match(r"http://([^/:]+):(\d+)(.*)", url)
        connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=15)
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        payload = None
        if body is not None:
            payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        connection.request(method, match.group(3) or "/", body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return response.status, parsed, response

    def get(self, url, token=None):
        return self.request(url, token=token)

    def api(self, method, path, body=None, token=None, headers=None):
        return self.request(self.gateway_url + path, method, body, token, headers)

    def stop(self, keep=None):
        """Stops everything; then its folder goes or stays (``keep_or_remove``)."""
        for process in self.extra:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.extra:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.up.poll() is None:
            self.up.send_signal(signal.SIGINT)
            try:
                self.up.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.up.pid, signal.SIGKILL)
        self.log.close()
        keep_or_remove(self.root, keep)
