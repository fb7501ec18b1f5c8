"""The real processes under test: redis-server, the services, and HTTP to them."""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from .resp import Redis, RedisError

SERVICES = ["rental", "delivery", "lookup", "notifier"]


_given_ports = set()


def free_port():
    """A loopback port nothing listens on, never one this process handed out before: the kernel may
    give a just-closed port 0 again, and two servers told the same port make one fail to start."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def wait_for(condition, timeout, what, interval=0.05):
    """Polls `condition` until it returns something truthy, and returns that; an AssertionError
    naming `what` after `timeout` seconds. The one wait of the demonstrations, drills and web app
    tests: a condition with a deadline, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def keep_or_remove(folder, keep=None):
    """At the end of a run: removes `folder` (logs, databases), or keeps it and says where when
    `keep`, which by default is whether an exception is on its way (a `finally` after a failure)."""
    if keep is None:
        keep = sys.exc_info()[0] is not None
    if keep:
        print("logs and data kept in %s" % folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def wait_listening(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class RedisServer:
    def __init__(self, workdir, name="redis", extra_args=()):
        """`extra_args`: more redis-server options, e.g. ("--replicaof", "127.0.0.1", "6380")."""
        self.port = free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.extra_args = list(extra_args)
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
             "--aclfile", self.acl_file(), "--logfile", os.path.join(self.dir, "redis.log")] + self.extra_args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                client = Redis(self.port)
                client.call("PING")
                client.close()
                return
            except (OSError, RedisError, ConnectionError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start (loading AOF?) see %s" % self.dir)

    def acl_file(self):
        """Users survive restarts (the harness's own connections log in as `default`)."""
        path = os.path.join(self.dir, "users.acl")
        if not os.path.exists(path):
            with open(path, "w") as acl:
                acl.write("user default on nopass ~* &* +@all\n")
        return path

    def add_user(self, name, password, rules):
        """An ACL user, kept in the ACL file so that it survives restarts and wipes."""
        client = self.client()
        try:
            client.call("ACL", "SETUSER", name, "reset", "on", ">" + password, *rules)
            client.call("ACL", "SAVE")
        finally:
            client.close()

    def kill9(self):
        self.process.kill()
        self.process.wait()

    def wipe(self):
        """Stops Redis and starts it again without its data: no AOF, nothing."""
        self.stop()
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if name.startswith("appendonly") or name.endswith(".rdb"):
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        self.start()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def client(self):
        return Redis(self.port)


class ServiceProcess:
    def __init__(self, cluster, service, index):
        self.cluster = cluster
        self.service = service
        self.index = index
        self.port = free_port()
        self.generation = 0
        self.consumer = "%s-%d" % (service, index)
        self.process = None

    def start(self, new_name=False, extra_args=(), wait=True):
        """`extra_args`: more flags (e.g. --accept-loss); `wait` False returns without waiting for the port."""
        if new_name:
            self.generation += 1
            self.consumer = "%s-%d-g%d" % (self.service, self.index, self.generation)
        log = open(self.log_path, "ab")
        # The Redis URL goes in the environment: it may hold a password, which a command line shows.
        env = dict(os.environ, LOG_LEVEL="warning", REDIS_URL=self.cluster.service_redis_url, **self.cluster.environment)
        self.process = subprocess.Popen(
            [self.cluster.binary, self.service, "--port", str(self.port),
             "--db", self.cluster.db(self.service), "--consumer", self.consumer, "--no-auth", "--drain", "0"] + list(extra_args),
            stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        if wait and not wait_listening(self.port):
            raise RuntimeError("%s did not start; see %s" % (self.consumer, self.cluster.workdir))

    @property
    def log_path(self):
        return os.path.join(self.cluster.workdir, "%s-%d.log" % (self.service, self.index))

    def kill9(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def terminate(self):
        """SIGTERM; returns the seconds it took to exit."""
        start = time.time()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return float("inf")
        return time.time() - start

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None


class Cluster:
    def __init__(self, binary, root, name, counts=None, environment=None, redis_user=None, redis_replicas=0):
        """`environment`: extra variables for every service (e.g. RETENTION_COUNT); `redis_user`:
        (name, password, ACL rules) the services log in as, instead of `default`; `redis_replicas`:
        that many replicas and three sentinels (harness.sentinel), the services following the primary."""
        counts = counts or {}
        self.binary = binary
        self.workdir = os.path.join(root, name)
        os.makedirs(self.workdir, exist_ok=True)
        if redis_replicas:
            from .sentinel import SentinelGroup
            self.redis = SentinelGroup(self.workdir, redis_replicas)
        else:
            self.redis = RedisServer(self.workdir)
        self.environment = dict(environment or {})
        self.service_redis_url = getattr(self.redis, "service_url", self.redis.url)
        if redis_user:
            user, password, rules = redis_user
            self.redis.add_user(user, password, rules)
            self.service_redis_url = "redis://%s:%s@127.0.0.1:%d" % (user, password, self.redis.port)
        self.processes = {}
        for service in SERVICES:
            self.processes[service] = [ServiceProcess(self, service, i + 1) for i in range(counts.get(service, 1))]
        for group in self.processes.values():
            for process in group:
                process.start()

    def db(self, service):
        return os.path.join(self.workdir, "%s.sqlite" % service)

    def port(self, service):
        alive = [p for p in self.processes[service] if p.alive] or self.processes[service]
        return random.choice(alive).port

    def all_processes(self):
        return [p for group in self.processes.values() for p in group]

    def shutdown(self):
        for process in self.all_processes():
            process.kill9()
        self.redis.stop()


class Http:
    """One keep-alive connection per (thread, port)."""

    def __init__(self):
        self.local = threading.local()

    def request(self, port, method, path, body=None, timeout=10.0, headers=None):
        connections = getattr(self.local, "connections", None)
        if connections is None:
            connections = self.local.connections = {}
        for attempt in range(2):
            connection = connections.get(port)
            if connection is None:
                connection = connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                payload = json.dumps(body) if body is not None else None
                connection.request(method, path, body=payload, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
                response = connection.getresponse()
                data = response.read()
                return response.status, (json.loads(data) if data else None)
            except (OSError, http.client.HTTPException):
                connection.close()
                connections.pop(port, None)
                if attempt == 1:
                    raise
        raise OSError("unreachable")


HTTP = Http()


def call(cluster, service, method, path, body=None, headers=None):
    return HTTP.request(cluster.port(service), method, path, body, headers=headers)
