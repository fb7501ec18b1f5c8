#!/usr/bin/env python3
"""The README's "Try it like the course reports", run: each demonstration's commands against a fresh
`bookdelivery up` on free ports, with what the README says they show checked. Part of the test
command; also a way to watch them: it prints every command and what it answered.

    python3 ops/demos.py --binary .build/debug/bookdelivery [--only catch-up,fallback,...]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from harness.processes import free_port, keep_or_remove, wait_for


class Up:
    """`bookdelivery up` in a temporary folder, with its tokens."""

    def __init__(self, binary, extra=()):
        self.binary = binary
        self.directory = tempfile.mkdtemp(prefix="demos-")
        self.data = os.path.join(self.directory, "data")
        self.ports = {name: free_port() for name in ["gateway", "rental", "delivery", "lookup", "notifier"]}
        self.gateway = "http://127.0.0.1:%d" % self.ports["gateway"]
        arguments = [binary, "up", "--data", self.data, "--redis-port", str(free_port())]
        for name, port in self.ports.items():
            arguments += ["--port", "%s=%d" % (name, port)]
        self.log = open(os.path.join(self.directory, "up.log"), "w+")
        self.process = subprocess.Popen(arguments + list(extra), stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "Press Ctrl-C" in self.text(), 60, "up to be up")
        self.tokens = dict(re.findall(r"export (\w+)=(\S+)", self.text()))

    def text(self):
        with open(self.log.name) as f:
            return f.read()

    def run(self, *arguments, show=True, check=True):
        command = [self.binary] + list(arguments)
        if arguments[0] in ("ctl", "load"):
            command += ["--data", self.data] if arguments[0] == "ctl" else ["--keys", os.path.join(self.data, "keys")]
        if arguments[0] in ("streams",):
            command += ["--redis", "redis://operator@127.0.0.1:%s" % self.redis_port(),
                        "--redis-password-file", os.path.join(self.data, "secrets", "operator.password")]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        output = (result.stdout + result.stderr).strip()
        if show:
            print("$ bookdelivery " + " ".join(arguments))
            print("\n".join("  " + line for line in output.splitlines()[-14:]))
        if check:
            assert result.returncode == 0, "bookdelivery %s: exit %d\n%s" % (" ".join(arguments), result.returncode, output)
        return output

    def redis_port(self):
        return re.search(r"redis-server on 127.0.0.1:(\d+)", self.text()).group(1)

    def status(self, name):
        return [row for row in json.loads(self.run("ctl", "status", "--json", show=False)) if row["name"] == name]

    def http(self, method, path, body=None, token="ALICE", show=False):
        request = urllib.request.Request(self.gateway + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + self.tokens[token])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, dict(error.headers), error.read()
        answer = json.loads(raw) if raw else None
        if show:
            shown = [k + ": " + v for k, v in headers.items() if k in ("X-Fallback", "Retry-After")]
            print("$ curl -X %s %s  →  %d %s %s" % (method, path, status, " ".join(shown), json.dumps(answer)[:160]))
        return status, headers, answer

    def stop(self, keep=None):
        """Ctrl-C; then the folder (logs, databases, AOF) goes or stays (``keep_or_remove``), and
        stays whatever `keep` says if up did not stop cleanly."""
        self.process.send_signal(signal.SIGINT)
        stopped = self.process.wait(timeout=60)
        keep_or_remove(self.directory, True if stopped != 0 else keep)
        assert stopped == 0, "Ctrl-C stops up cleanly"


def a_book(up, copies=1000):
    status, _, book = up.http("POST", "/books", {"title": "Dune", "author": "Frank Herbert", "copies": copies}, token="ADMIN")
    assert status == 201, book
    return book["id"]


def order(up, book, token="ALICE"):
    status, _, rental = up.http("POST", "/rentals", {"bookId": book, "address": "1 Main St"}, token=token)
    assert status == 201, rental
    return rental["id"]


def delivered_rentals(up):
    status, _, deliveries = up.http("GET", "/deliveries?limit=500", token="ADMIN")
    return [d["rentalId"] for d in deliveries] if status == 200 else []


def demo_catch_up(up):
    """Delivery stopped: orders are still taken; started again, it catches up."""
    book = a_book(up)
    up.run("ctl", "stop", "delivery")
    rentals = [order(up, book) for _ in range(5)]
    print("  (5 orders placed through the gateway while Delivery is stopped: all 201)")
    streams = up.run("streams")
    lag = re.search(r"delivery\s+\d+\s+\d+\s+(\d+)", streams)  # the group's row: consumers, pending, lag
    assert lag and int(lag.group(1)) >= 5, "the delivery group is 5 behind:\n" + streams
    up.run("ctl", "start", "delivery")
    wait_for(lambda: set(rentals) <= set(delivered_rentals(up)), 30, "Delivery to catch up")
    print("  (every order has its delivery)")


def demo_fallback(up):
    """Lookup stopped: a customer's rentals come from Rental, marked as a fallback."""
    book = a_book(up)
    order(up, book)
    up.run("ctl", "stop", "lookup")
    status, headers, rentals = up.http("GET", "/customers/alice/rentals", show=True)
    assert status == 200 and headers.get("X-Fallback") == "rental", (status, headers)
    assert rentals and all(r.get("fallback") and r["deliveryStatus"] == "unknown" for r in rentals), rentals
    up.run("ctl", "start", "lookup")


def demo_rental_down(up):
    """Rental stopped: ordering answers 503 "try again shortly"; the breaker opens; then it works again."""
    book = a_book(up)
    up.run("ctl", "stop", "rental")
    status, headers, answer = up.http("POST", "/rentals", {"bookId": book, "address": "x"}, show=True)
    assert status == 503 and "try again" in answer["error"] and "Retry-After" in headers, (status, answer)

    def breaker():
        up.http("POST", "/rentals", {"bookId": book, "address": "x"})
        _, _, health = up.http("GET", "/health", token=None)
        return health["pools"]["rental"]["breaker"] == "open"
    wait_for(breaker, 30, "Rental's breaker to open")
    print("$ curl %s/health  →  pools.rental.breaker: open" % up.gateway)
    up.run("ctl", "start", "rental")
    wait_for(lambda: up.http("POST", "/rentals", {"bookId": book, "address": "x"})[0] == 201, 30, "orders to be taken again")
    print("  (ordering works again once the breaker's half-open trials pass)")


def demo_scale(up):
    """Three Delivery instances split the orders; none is delivered twice."""
    book = a_book(up)
    up.run("ctl", "scale", "delivery=3")
    rentals = [order(up, book) for _ in range(30)]
    wait_for(lambda: set(rentals) <= set(delivered_rentals(up)), 30, "30 deliveries")
    every = delivered_rentals(up)
    assert len(every) == len(set(every)), "a rental delivered twice"
    counts = []
    for row in up.status("delivery"):
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % row["port"], timeout=5) as response:
            counts.append((row["instance"], json.load(response)["events"]["handled"]))
    print("  events handled per Delivery instance (their /health): " + ", ".join("delivery-%d %d" % c for c in counts))
    assert sum(1 for _, handled in counts if handled > 0) >= 2, counts
    up.run("ctl", "scale", "delivery=1")


def demo_redeploy(up):
    """Every service replaced one instance at a time under load: no failed request."""
    a_book(up)
    load = subprocess.Popen([up.binary, "load", "--gateway", up.gateway, "--keys", os.path.join(up.data, "keys"),
                             "--rate", "40", "--duration", "12s"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)  # the load is under way before the first instance is replaced
    up.run("ctl", "redeploy")
    output = load.communicate(timeout=120)[0]
    print("$ bookdelivery load --rate 40 --duration 12s   (during the redeploy)")
    print("\n".join("  " + line for line in output.strip().splitlines()[-4:]))
    assert "availability 100.00 %" in output, output


def demo_wedged(up):
    """A wedged part (kill -STOP) fails its liveness checks and is restarted."""
    pid = up.status("notifier")[0]["pid"]
    os.kill(pid, signal.SIGSTOP)
    print("$ kill -STOP %d   (notifier)" % pid)
    wedged = re.compile(r"notifier(-\d+)? failed /live 3 checks in a row")
    wait_for(lambda: wedged.search(up.text()), 40, "the supervisor to find it wedged")
    wait_for(lambda: up.status("notifier")[0]["state"] == "ready", 30, "notifier to be back")
    print("  up: " + next(line for line in up.text().splitlines() if wedged.search(line)))
    up.run("ctl", "status")


def demo_overload(binary):
    """Overload: the gateway sheds what its pool cannot take now with 503 + Retry-After (a small limit makes it easy to see)."""
    up = Up(binary, ["--rate-limit", "0", "--max-concurrent", "1"])
    try:
        a_book(up)
        # Orders come one every 1.7 ms, faster than one at a time is served (a few ms each). At 150/s
        # (one every 6.7 ms), a faster gateway served each before the next was due, and shed nothing.
        output = up.run("load", "--gateway", up.gateway, "--rate", "600", "--duration", "3s", "--mix", "order")
        shed = re.search(r"503 \(shed or breaker open\): (\d+), of which with Retry-After: (\d+)", output)
        assert shed and int(shed.group(1)) > 0 and shed.group(1) == shed.group(2), output
        assert not re.search(r"\b50[0124] \d", output.split("statuses:")[1].split("\n")[0]), "no other 5xx: " + output
    finally:
        up.stop()


DEMOS = [("catch-up", demo_catch_up), ("fallback", demo_fallback), ("rental-down", demo_rental_down),
         ("scale", demo_scale), ("redeploy", demo_redeploy), ("wedged", demo_wedged)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=".build/debug/bookdelivery")
    parser.add_argument("--only", help="comma-separated: " + ", ".join([n for n, _ in DEMOS] + ["overload"]))
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else [n for n, _ in DEMOS] + ["overload"]
    passed, failed = 0, 0
    up = None
    for name, demo in DEMOS + [("overload", None)]:
        if name not in chosen:
            continue
        print("\n== %s: %s" % (name, (demo or demo_overload).__doc__))
        started = time.monotonic()
        try:
            if demo is None:
                demo_overload(args.binary)
            else:
                up = up or Up(args.binary)
                demo(up)
            passed += 1
            print("PASS %s (%.1f s)" % (name, time.monotonic() - started))
        except Exception as error:  # report every demonstration, then fail
            failed += 1
            print("FAIL %s: %s" % (name, error))
            if up:
                print("\n".join(up.text().splitlines()[-30:]))
    if up:
        up.stop(keep=failed > 0)
    print("demos: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
