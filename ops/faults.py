#!/usr/bin/env python3
"""Fault-injection harness for bookdelivery.

Runs the real `bookdelivery` processes and a private redis-server on loopback, drives load through
the HTTP APIs, injects faults (kill -9, SIGTERM, Redis crashes and outages, poison entries, replays),
then checks the invariants against the services' SQLite files, the Lookup hashes and the streams.

One line per scenario with its figures, then `N passed, N failed`. Exit status 1 when any failed.

    python3 ops/faults.py --binary .build/debug/bookdelivery --mode short   # a few minutes (the test command)
    python3 ops/faults.py --binary .build/debug/bookdelivery --mode long    # full size
    python3 ops/faults.py --only scale-out,rebuild                          # some scenarios

Only the standard library: a small RESP client stands in for redis-py.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

STREAMS = ["rental-events", "delivery-events"]
GROUPS = {"rental-events": ["delivery", "lookup", "notifier"], "delivery-events": ["rental", "lookup", "notifier"]}
ALERT_TYPES = {"BookRegistered", "RentalOrdered", "RentalCancelRequested", "RentalReturned", "DeliveryStarted",
               "DeliveryCompleted", "DeliveryCanceled", "DeliveryCancelRejected"}
CLAIM_IDLE = 3.0         # StreamConsumer.Configuration.claimIdle default
CLAIM_INTERVAL = 1.0     # ... claimInterval default
CONVERGENCE_TARGET = 5.0
SIZES = {
    # orders: the scale-out run, as fast as 50 clients go; client_rate: orders per second per client
    # in the timed fault runs, 50 clients (500 orders/s in all), a steady load rather than saturation.
    "short": {"orders": 2000, "load_seconds": 8, "replay_orders": 200, "client_rate": 10},
    "long": {"orders": 5000, "load_seconds": 30, "replay_orders": 1000, "client_rate": 10},
}


# ---------------------------------------------------------------------------------------------
# A minimal RESP2 client


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


def xrange_all(redis, stream):
    entries, start = [], "-"
    while True:
        batch = redis.call("XRANGE", stream, start, "+", "COUNT", 1000) or []
        entries += [(entry_id, pairs(fields)) for entry_id, fields in batch]
        if len(batch) < 1000:
            return entries
        start = "(" + batch[-1][0]


# ---------------------------------------------------------------------------------------------
# Processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    def __init__(self, workdir, name="redis"):
        self.port = free_port()
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")],
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

    def kill9(self):
        self.process.kill()
        self.process.wait()

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

    def start(self, new_name=False):
        if new_name:
            self.generation += 1
            self.consumer = "%s-%d-g%d" % (self.service, self.index, self.generation)
        log = open(os.path.join(self.cluster.workdir, "%s-%d.log" % (self.service, self.index)), "ab")
        env = dict(os.environ, LOG_LEVEL="warning")
        self.process = subprocess.Popen(
            [self.cluster.binary, self.service, "--port", str(self.port), "--redis", self.cluster.redis.url,
             "--db", self.cluster.db(self.service), "--consumer", self.consumer],
            stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        if not wait_listening(self.port):
            raise RuntimeError("%s did not start; see %s" % (self.consumer, self.cluster.workdir))

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
    def __init__(self, binary, root, name, counts=None):
        counts = counts or {}
        self.binary = binary
        self.workdir = os.path.join(root, name)
        os.makedirs(self.workdir, exist_ok=True)
        self.redis = RedisServer(self.workdir)
        self.processes = {}
        for service in ["rental", "delivery", "lookup", "notifier"]:
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

    def request(self, port, method, path, body=None, timeout=10.0):
        connections = getattr(self.local, "connections", None)
        if connections is None:
            connections = self.local.connections = {}
        for attempt in range(2):
            connection = connections.get(port)
            if connection is None:
                connection = connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                payload = json.dumps(body) if body is not None else None
                connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
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


def call(cluster, service, method, path, body=None):
    return HTTP.request(cluster.port(service), method, path, body)


# ---------------------------------------------------------------------------------------------
# Load


class Load:
    """50 clients ordering books (some cancel right away), plus a courier that starts and completes
    deliveries and a customer service desk that takes returns. Counts what Rental accepted."""

    def __init__(self, cluster, clients=50, orders=None, seconds=None, cancel_ratio=0.1, per_client_rate=None):
        self.cluster = cluster
        self.per_client_rate = per_client_rate
        self.clients = clients
        self.orders = orders
        self.seconds = seconds
        self.cancel_ratio = cancel_ratio
        self.accepted = set()
        self.refused = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.placed = 0
        self.books = self._register_books()
        self.threads = []

    def _register_books(self):
        books = []
        for index in range(8):
            copies = 3 if index == 0 else 100000  # one scarce book, so "no copy left" happens too
            status, book = call(self.cluster, "rental", "POST", "/books",
                                {"title": "Book %d" % index, "author": "Author %d" % index, "copies": copies})
            assert status == 201, (status, book)
            books.append(book["id"])
        return books

    def _take_ticket(self):
        with self.lock:
            if self.orders is not None and self.placed >= self.orders:
                return False
            self.placed += 1
            return True

    def _client(self, number):
        rng = random.Random(number)
        next_at = time.time()
        while not self.stop_event.is_set() and self._take_ticket():
            if self.per_client_rate:
                next_at += 1.0 / self.per_client_rate
                time.sleep(max(0.0, next_at - time.time()))
            body = {"customerId": "customer-%d" % rng.randrange(200), "bookId": rng.choice(self.books),
                    "address": "%d Main St" % number}
            try:
                status, rental = call(self.cluster, "rental", "POST", "/rentals", body)
            except OSError:
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)
                continue
            if status == 201:
                with self.lock:
                    self.accepted.add(rental["id"])
                if rng.random() < self.cancel_ratio:
                    try:
                        call(self.cluster, "rental", "POST", "/rentals/%s/cancel" % rental["id"])
                    except OSError:
                        pass
            elif status == 409:
                with self.lock:
                    self.refused += 1
            else:
                with self.lock:
                    self.errors += 1

    def _courier(self):
        rng = random.Random(7)
        while not self.stop_event.is_set():
            try:
                _, deliveries = call(self.cluster, "delivery", "GET", "/deliveries?limit=300")
                for delivery in deliveries or []:
                    if delivery["status"] == "ready" and rng.random() < 0.3:
                        call(self.cluster, "delivery", "POST", "/deliveries/%s/start" % delivery["id"])
                    elif delivery["status"] == "started" and rng.random() < 0.5:
                        call(self.cluster, "delivery", "POST", "/deliveries/%s/complete" % delivery["id"])
                    elif delivery["status"] == "delivered" and rng.random() < 0.2:
                        call(self.cluster, "rental", "POST", "/rentals/%s/return" % delivery["rentalId"])
            except (OSError, TypeError, KeyError):
                pass
            time.sleep(0.2)

    def start(self):
        self.started_at = time.time()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        self.courier = threading.Thread(target=self._courier, daemon=True)
        for thread in self.threads + [self.courier]:
            thread.start()
        if self.seconds is not None:
            threading.Timer(self.seconds, self.stop_event.set).start()
        return self

    def wait(self):
        for thread in self.threads:
            thread.join()
        self.ended_at = time.time()
        self.stop_event.set()
        self.courier.join()
        self.elapsed = self.ended_at - self.started_at
        return self


# ---------------------------------------------------------------------------------------------
# Invariants


def rows(path, sql):
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def dead_letter_ids(redis):
    ids = set()
    for stream in STREAMS:
        for group in GROUPS[stream]:
            for _, fields in xrange_all(redis, "%s:dead:%s" % (stream, group)):
                ids.add(fields.get("id"))
    return ids


def drained(cluster, redis):
    """The cheap part of the invariants, checked first on every poll: every group has read and
    acknowledged everything, and the outboxes are empty."""
    problems = []
    for stream in STREAMS:
        for info in redis.call("XINFO", "GROUPS", stream):
            group = pairs(info)
            if group["pending"] != 0 or (group.get("lag") not in (0, None)):
                problems.append("%s/%s: %s pending, lag %s" % (stream, group["name"], group["pending"], group.get("lag")))
    for service in ("rental", "delivery"):
        backlog = rows(cluster.db(service), "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL")[0][0]
        if backlog:
            problems.append("%s outbox: %d unpublished" % (service, backlog))
    return problems


def check(cluster, accepted, expect_dead_letters=False):
    """Returns the list of invariants that do not hold (empty when all hold)."""
    redis = cluster.redis.client()
    try:
        problems = drained(cluster, redis)
        if problems:
            return problems, {}
        rentals = {r[0]: (r[1], r[2]) for r in rows(cluster.db("rental"), "SELECT id, status, bookId FROM rentals")}
        missing = accepted - set(rentals)
        if missing:
            problems.append("%d accepted orders missing in Rental" % len(missing))
        deliveries = {}
        for rental_id, status, count in rows(cluster.db("delivery"), "SELECT rentalId, status, COUNT(*) FROM deliveries GROUP BY rentalId"):
            deliveries[rental_id] = status
            if count != 1:
                problems.append("rental %s has %d deliveries" % (rental_id, count))
        if set(deliveries) != set(rentals):
            problems.append("deliveries for %d of %d rentals (%d unknown)" % (
                len(set(deliveries) & set(rentals)), len(rentals), len(set(deliveries) - set(rentals))))
        consistent = {"ordered": {"ready"}, "canceled": {"canceled"}, "delivering": {"started"},
                      "delivered": {"delivered"}, "returned": {"delivered"}}
        unsettled = [r for r, (status, _) in rentals.items() if deliveries.get(r) not in consistent.get(status, set())]
        if unsettled:
            r = unsettled[0]
            problems.append("%d rentals not settled with their delivery (e.g. %s: %s vs %s)" % (
                len(unsettled), r, rentals[r][0], deliveries.get(r)))

        # Copies: reserved once per open rental, released once.
        open_by_book = {}
        for status, book in rentals.values():
            if status not in ("canceled", "returned"):
                open_by_book[book] = open_by_book.get(book, 0) + 1
        for book_id, copies, available in rows(cluster.db("rental"), "SELECT id, copies, available FROM books"):
            if available != copies - open_by_book.get(book_id, 0):
                problems.append("book %s: %d available, expected %d" % (book_id, available, copies - open_by_book.get(book_id, 0)))

        # Lookup matches Rental and Delivery.
        ids = list(rentals)
        views = redis.pipeline([["HMGET", "lookup:rental:%s" % r, "status", "deliveryStatus"] for r in ids]) if ids else []
        wrong = [r for r, view in zip(ids, views) if view != [rentals[r][0], deliveries.get(r)]]
        if wrong:
            r = wrong[0]
            problems.append("%d Lookup views differ (e.g. %s: %s, rental %s, delivery %s)" % (
                len(wrong), r, views[ids.index(r)], rentals[r][0], deliveries.get(r)))

        # Every alert exactly once: one per alert-worthy event that was not dead-lettered.
        dead = dead_letter_ids(redis)
        expected = set()
        for stream in STREAMS:
            for _, fields in xrange_all(redis, stream):
                if fields.get("type") in ALERT_TYPES and fields.get("id") not in dead:
                    expected.add(fields.get("id"))
        alerts = [r[0] for r in rows(cluster.db("notifier"), "SELECT eventId FROM alerts")]
        if len(alerts) != len(set(alerts)):
            problems.append("duplicate alerts")
        if set(alerts) != expected:
            problems.append("alerts: %d kept, %d expected (%d missing, %d extra)" % (
                len(set(alerts)), len(expected), len(expected - set(alerts)), len(set(alerts) - expected)))

        if dead and not expect_dead_letters:
            problems.append("%d dead letters" % len(dead))
        return problems, {"rentals": len(rentals), "deliveries": len(deliveries), "alerts": len(alerts)}
    except (OSError, sqlite3.Error, RedisError, ConnectionError) as error:
        return ["cannot check yet: %s" % error], {}
    finally:
        redis.close()


def converge(cluster, accepted, since=None, timeout=90.0, **options):
    """Polls the invariants; returns (seconds from `since` until they held, figures) or raises.
    `since` is when the system was left alone: the end of the last fault or of the load, whichever
    came later (default: now). The time is taken when the poll that found the invariants holding
    began, so the check's own cost is not counted."""
    start = since if since is not None else time.time()
    while True:
        poll_started = time.time()
        problems, figures = check(cluster, accepted, **options)
        if not problems:
            return poll_started - start, figures
        if time.time() - poll_started > timeout or time.time() - start > timeout:
            raise AssertionError("not converged after %.0f s: %s" % (timeout, "; ".join(problems[:5])))
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# Scenarios


def scenario_scale_out(ctx):
    """3 Delivery, 2 Lookup, 2 Notifier processes; many orders from 50 clients."""
    cluster = ctx.cluster("scale-out", {"delivery": 3, "lookup": 2, "notifier": 2})
    load = Load(cluster, orders=ctx.size["orders"]).start().wait()
    seconds, figures = converge(cluster, load.accepted)
    idle = []
    shares = []
    for process in cluster.all_processes():
        if process.service == "rental":
            continue
        _, health = HTTP.request(process.port, "GET", "/health")
        handled = health["events"]["handled"]
        shares.append("%s=%d" % (process.consumer, handled))
        if handled == 0:
            idle.append(process.consumer)
    assert not idle, "consumers that did no work: %s" % idle
    return seconds, "orders=%d accepted=%d refused=%d rate=%.0f/s deliveries=%d alerts=%d work=[%s]" % (
        load.placed, len(load.accepted), load.refused, load.placed / load.elapsed, figures["deliveries"], figures["alerts"],
        " ".join(shares))


def scenario_consumer_crashes(ctx):
    """kill -9 a Delivery process every 2 s during load; restart it under a new consumer name so that
    the others must take its pending entries over. A watcher times each takeover."""
    cluster = ctx.cluster("consumer-crashes", {"delivery": 3})
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    dead = {}         # consumer name -> when it was killed
    takeovers = []
    done = threading.Event()

    def watch():
        watcher = cluster.redis.client()
        while not done.is_set() or dead:
            summary = watcher.call("XPENDING", "rental-events", "delivery")
            pending = {name: int(count) for name, count in (summary[3] or [])}
            for name, killed_at in list(dead.items()):
                if pending.get(name, 0) == 0:
                    takeovers.append(time.time() - killed_at)
                    del dead[name]
                elif time.time() - killed_at > 30:
                    return
            time.sleep(0.05)
        watcher.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    last_fault = None
    while not load.stop_event.wait(2):
        victim = random.choice(cluster.processes["delivery"])
        dead[victim.consumer] = last_fault = time.time()
        victim.kill9()
        victim.start(new_name=True)
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault or 0, load.ended_at))
    done.set()
    watcher.join(timeout=35)
    assert not dead, "pending entries of %s not taken over in 30 s" % list(dead)
    worst = max(takeovers or [0])
    assert worst <= CLAIM_IDLE + CLAIM_INTERVAL + 1.0, "takeover took %.1f s (claim threshold %.0f s)" % (worst, CLAIM_IDLE)
    return seconds, "kills=%d accepted=%d deliveries=%d max-takeover=%.1fs (claim threshold %.0fs + scan every %.0fs)" % (
        len(takeovers), len(load.accepted), figures["deliveries"], worst, CLAIM_IDLE, CLAIM_INTERVAL)


def scenario_producer_crash(ctx):
    """kill -9 Rental every 2 s during load, restart it: every 201 reaches Delivery and Lookup."""
    cluster = ctx.cluster("producer-crash")
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    kills = 0
    last_fault = 0
    while not load.stop_event.wait(2):
        rental = cluster.processes["rental"][0]
        rental.kill9()
        kills += 1
        rental.start()
        last_fault = time.time()
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault, load.ended_at))
    return seconds, "kills=%d accepted=%d client-errors=%d rentals=%d deliveries=%d" % (
        kills, len(load.accepted), load.errors, figures["rentals"], figures["deliveries"])


def scenario_redis_crash(ctx):
    """kill -9 redis-server and restart it (AOF everysec) twice during load."""
    cluster = ctx.cluster("redis-crash")
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    for _ in range(2):
        time.sleep(ctx.size["load_seconds"] / 3.0)
        cluster.redis.kill9()
        time.sleep(0.5)
        cluster.redis.start()
    last_fault = time.time()
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault, load.ended_at))
    return seconds, "redis-kills=2 accepted=%d (%.0f/s) deliveries=%d alerts=%d" % (
        len(load.accepted), load.placed / load.elapsed, figures["deliveries"], figures["alerts"])


def scenario_redis_away(ctx):
    """Redis stopped for 10 s: Rental keeps accepting orders; they flow once Redis is back. The load
    stops when Redis comes back, so the convergence time is the drain of the outage's backlog."""
    cluster = ctx.cluster("redis-away")
    load = Load(cluster, per_client_rate=ctx.size["client_rate"]).start()
    time.sleep(2)
    cluster.redis.stop()
    before = len(load.accepted)
    time.sleep(10)
    during = len(load.accepted) - before
    cluster.redis.start()
    back_at = time.time()
    load.stop_event.set()
    load.wait()
    assert during > 0, "no order accepted while Redis was away"
    seconds, figures = converge(cluster, load.accepted, since=back_at)
    return seconds, "accepted-while-redis-away=%d accepted=%d (%.0f/s) deliveries=%d" % (
        during, len(load.accepted), load.placed / load.elapsed, figures["deliveries"])


def scenario_poison(ctx):
    """A RentalOrdered whose payload no handler can read, and raw garbage from redis-cli XADD: both
    end in the dead-letter streams after the configured tries; everything else flows; `bookdelivery
    streams` shows them; `bookdelivery dead-letters --redrive` puts them back."""
    cluster = ctx.cluster("poison")
    load = Load(cluster, orders=ctx.size["orders"] // 5).start()
    poison_id = str(uuid.uuid4())
    cli = ["redis-cli", "-p", str(cluster.redis.port)]
    subprocess.run(cli + ["XADD", "rental-events", "*", "id", poison_id, "type", "RentalOrdered", "key", "poison",
                          "occurredAt", "2026-01-01T00:00:00.000Z", "correlationId", "poison", "causationId", "",
                          "data", '{"rentalId": 42}'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(cli + ["XADD", "rental-events", "*", "hello", "world"], check=True, stdout=subprocess.DEVNULL)
    load.wait()
    seconds, figures = converge(cluster, load.accepted, expect_dead_letters=True)
    redis = cluster.redis.client()
    try:
        for group in GROUPS["rental-events"]:
            entries = xrange_all(redis, "rental-events:dead:%s" % group)
            tries = sorted(int(fields["dead.deliveries"]) for _, fields in entries)
            assert tries == [1, 5], "%s dead letters: deliveries %s" % (group, tries)
        report = subprocess.run([cluster.binary, "streams", "--redis", cluster.redis.url], capture_output=True, text=True, check=True).stdout
        assert "rental-events:dead:delivery" in report and any(
            line.startswith("rental-events:dead:delivery") and line.split()[-1] == "2" for line in report.splitlines()), report
        redrive = subprocess.run([cluster.binary, "dead-letters", "--redis", cluster.redis.url, "--redrive", "rental-events:dead:delivery"],
                                 capture_output=True, text=True, check=True).stdout
        assert "re-drove 2" in redrive, redrive
        # The cause is not fixed, so Delivery gives up on them again: the command put them back.
        deadline = time.time() + 30
        while len(xrange_all(redis, "rental-events:dead:delivery")) != 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(xrange_all(redis, "rental-events:dead:delivery")) == 2, "re-driven entries did not come back"
    finally:
        redis.close()
    return seconds, "accepted=%d dead-lettered per group=2 (poison after 5 deliveries, garbage at once) redrive=ok" % len(load.accepted)


def snapshot_views(redis):
    keys, cursor = [], "0"
    while True:
        cursor, batch = redis.call("SCAN", cursor, "MATCH", "lookup:*", "COUNT", 1000)
        keys += batch
        if cursor == "0":
            break
    views = {}
    for key in sorted(keys):
        if key.startswith("lookup:rental:"):
            views[key] = pairs(redis.call("HGETALL", key))
        else:
            views[key] = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
    return views


def scenario_replay(ctx):
    """The streams of a finished run replayed twice, shuffled, into fresh Redis servers, fresh consumer
    groups and fresh databases: Delivery and Lookup end as in the ordered replay and the original."""
    cluster = ctx.cluster("replay-source")
    load = Load(cluster, orders=ctx.size["replay_orders"], cancel_ratio=0.3).start().wait()
    converge(cluster, load.accepted)
    source = cluster.redis.client()
    events = {stream: xrange_all(source, stream) for stream in STREAMS}
    original_views = {k: v for k, v in snapshot_views(source).items() if k.startswith("lookup:rental:")}
    source.close()
    cluster.shutdown()

    def replay(name, streams, counts, shuffle):
        target = ctx.cluster(name, counts, start={"rental": False, "delivery": counts.get("delivery", 0) > 0,
                                                   "lookup": counts.get("lookup", 0) > 0, "notifier": False})
        client = target.redis.client()
        for stream in streams:
            entries = [fields for _, fields in events[stream]]
            if shuffle:
                entries = entries * 2
                random.Random(42).shuffle(entries)
            commands = [["XADD", stream, "*"] + [x for kv in fields.items() for x in kv] for fields in entries]
            for i in range(0, len(commands), 500):
                client.pipeline(commands[i:i + 500])
        client.close()
        return target

    def drained(target, groups):
        client = target.redis.client()
        try:
            for stream, group in groups:
                info = {pairs(g)["name"]: pairs(g) for g in client.call("XINFO", "GROUPS", stream)}
                g = info.get(group)
                if not g or g["pending"] != 0 or g.get("lag") != 0:
                    return False
            return True
        finally:
            client.close()

    def wait_drained(target, groups):
        deadline = time.time() + 90
        while not drained(target, groups):
            if time.time() > deadline:
                raise AssertionError("replay %s did not drain" % target.workdir)
            time.sleep(0.2)

    started = time.time()
    lookup_run = replay("replay-lookup", STREAMS, {"lookup": 2}, shuffle=True)
    wait_drained(lookup_run, [("rental-events", "lookup"), ("delivery-events", "lookup")])
    client = lookup_run.redis.client()
    replayed_views = {k: v for k, v in snapshot_views(client).items() if k.startswith("lookup:rental:")}
    client.close()
    lookup_run.shutdown()
    assert replayed_views == original_views, "Lookup after a shuffled double replay differs in %d views" % sum(
        1 for k in original_views if replayed_views.get(k) != original_views[k])

    def delivery_state(shuffle, name):
        run = replay(name, ["rental-events"], {"delivery": 3 if shuffle else 1}, shuffle=shuffle)
        wait_drained(run, [("rental-events", "delivery")])
        state = {r: s for r, s in rows(run.db("delivery"), "SELECT rentalId, status FROM deliveries")}
        counts = rows(run.db("delivery"), "SELECT COUNT(*), COUNT(DISTINCT rentalId) FROM deliveries")[0]
        run.shutdown()
        return state, counts

    ordered, _ = delivery_state(False, "replay-delivery-ordered")
    shuffled, counts = delivery_state(True, "replay-delivery-shuffled")
    assert counts[0] == counts[1], "duplicate deliveries after the replay"
    assert shuffled == ordered, "Delivery differs after a shuffled double replay in %d rentals" % sum(
        1 for r in ordered if shuffled.get(r) != ordered[r])
    return time.time() - started, "events=%d views=%d deliveries=%d replayed twice shuffled: identical" % (
        sum(len(v) for v in events.values()), len(original_views), len(ordered))


def scenario_rebuild(ctx):
    """Lookup's hashes deleted, `bookdelivery lookup --rebuild`: the views equal those before."""
    cluster = ctx.cluster("rebuild")
    load = Load(cluster, orders=ctx.size["orders"] // 5, cancel_ratio=0.3).start().wait()
    converge(cluster, load.accepted)
    redis = cluster.redis.client()
    before = snapshot_views(redis)
    redis.call("DEL", *before.keys())
    assert not snapshot_views(redis)
    started = time.time()
    output = subprocess.run([cluster.binary, "lookup", "--rebuild", "--redis", cluster.redis.url], capture_output=True, text=True, check=True).stdout
    seconds = time.time() - started
    after = snapshot_views(redis)
    redis.close()
    assert after == before, "rebuilt views differ in %d keys" % sum(1 for k in before if after.get(k) != before[k])
    return seconds, "keys=%d identical after rebuild (%s)" % (len(before), output.strip())


def scenario_graceful_stop(ctx):
    """SIGTERM to each service under load: it exits within 5 s; after restart nothing is lost or applied twice."""
    cluster = ctx.cluster("graceful-stop")
    load = Load(cluster, seconds=ctx.size["load_seconds"] + 4, per_client_rate=ctx.size["client_rate"]).start()
    exits = {}
    for service in ["rental", "delivery", "lookup", "notifier"]:
        time.sleep(1)
        process = cluster.processes[service][0]
        exits[service] = process.terminate()
        process.start()
    last_fault = time.time()
    load.wait()
    slow = {s: t for s, t in exits.items() if t > 5}
    assert not slow, "did not exit within 5 s: %s" % slow
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault, load.ended_at))
    return seconds, "accepted=%d exits=[%s] deliveries=%d alerts=%d" % (
        len(load.accepted), " ".join("%s=%.2fs" % kv for kv in exits.items()), figures["deliveries"], figures["alerts"])


SCENARIOS = [
    ("scale-out", scenario_scale_out),
    ("consumer-crashes", scenario_consumer_crashes),
    ("producer-crash", scenario_producer_crash),
    ("redis-crash", scenario_redis_crash),
    ("redis-away", scenario_redis_away),
    ("poison", scenario_poison),
    ("duplicates-and-reordering", scenario_replay),
    ("rebuild", scenario_rebuild),
    ("graceful-stop", scenario_graceful_stop),
]


class Context:
    def __init__(self, binary, root, size):
        self.binary = binary
        self.root = root
        self.size = size
        self.clusters = []

    def cluster(self, name, counts=None, start=None):
        counts = dict(counts or {})
        if start is not None:
            for service, wanted in start.items():
                if not wanted:
                    counts[service] = 0
        cluster = Cluster(self.binary, self.root, name, counts)
        self.clusters.append(cluster)
        return cluster

    def cleanup(self):
        for cluster in self.clusters:
            cluster.shutdown()
        self.clusters = []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/debug/bookdelivery", help="the bookdelivery executable")
    parser.add_argument("--mode", choices=sorted(SIZES), default="short", help="short (the test command) or long")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases, AOF)")
    args = parser.parse_args()

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit("no executable at %s: build it with `swift build` first" % binary)
    if shutil.which("redis-server") is None:
        sys.exit("redis-server not found: run scripts/setup")
    selected = [s for s in SCENARIOS if not args.only or s[0] in args.only.split(",")]
    root = tempfile.mkdtemp(prefix="bookdelivery-faults-")
    print("fault injection (%s): %d scenarios, work directory %s" % (args.mode, len(selected), root), flush=True)
    passed = failed = over_target = 0
    for name, scenario in selected:
        ctx = Context(binary, root, SIZES[args.mode])
        started = time.time()
        try:
            seconds, figures = scenario(ctx)
            flag = "" if seconds <= CONVERGENCE_TARGET or name == "duplicates-and-reordering" else " (over the %.0f s target)" % CONVERGENCE_TARGET
            over_target += 1 if flag else 0
            print("PASS %-26s convergence=%.2fs%s %s [%.0fs]" % (name, seconds, flag, figures, time.time() - started), flush=True)
            passed += 1
        except Exception as error:  # a failed scenario must not stop the others
            print("FAIL %-26s %s [%.0fs]" % (name, error, time.time() - started), flush=True)
            if not isinstance(error, AssertionError):
                traceback.print_exc()
            failed += 1
        finally:
            ctx.cleanup()
    if failed == 0 and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    elif failed:
        print("logs, databases and AOF files kept in %s" % root)
    if over_target:
        print("%d scenario(s) converged slower than the %.0f s target" % (over_target, CONVERGENCE_TARGET))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
