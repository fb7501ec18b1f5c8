"""The fault scenarios: each injects faults under load and returns (convergence seconds, figures)."""
import random
import signal
import subprocess
import threading
import time
import uuid

from . import invariants
from .invariants import converge
from .load import Load
from .processes import HTTP
from .resp import xrange_all

CLAIM_IDLE = 3.0  # StreamConsumer.Configuration.claimIdle default
CLAIM_INTERVAL = 1.0  # ... claimInterval default


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


def pending_of(redis, stream, group, consumer):
    summary = redis.call("XPENDING", stream, group)
    return {name: int(count) for name, count in (summary[3] or [])}.get(consumer, 0)


def freeze_holding_entries(cluster, victim, stream, group, timeout=2.0):
    """SIGSTOPs the victim until Redis has handed it entries it cannot acknowledge (its blocked read
    goes on server-side); returns how many it holds, or 0 after SIGCONT when none came."""
    redis = cluster.redis.client()
    try:
        victim.process.send_signal(signal.SIGSTOP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            held = pending_of(redis, stream, group, victim.consumer)
            if held:
                return held
            time.sleep(0.02)
        victim.process.send_signal(signal.SIGCONT)
        return 0
    finally:
        redis.close()


def scenario_consumer_crashes(ctx):
    """kill -9 a Delivery process every 2 s during load, at a moment it holds entries (frozen until
    Redis has handed it some), and restart it under a new consumer name: the others must take its
    pending entries over. A watcher times each takeover, from the kill until nothing is pending
    under the dead name."""
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
    held = []
    while not load.stop_event.wait(2):
        victim = random.choice(cluster.processes["delivery"])
        holding = freeze_holding_entries(cluster, victim, "rental-events", "delivery")
        if not holding:
            continue  # it was not in a read: try another moment
        held.append(holding)
        dead[victim.consumer] = last_fault = time.time()
        victim.kill9()
        victim.start(new_name=True)
    load.wait()
    assert held, "no victim held entries when killed: nothing was measured"
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault or 0, load.ended_at))
    done.set()
    watcher.join(timeout=35)
    assert not dead, "pending entries of %s not taken over in 30 s" % list(dead)
    worst = max(takeovers or [0])
    assert worst <= CLAIM_IDLE + CLAIM_INTERVAL + 1.0, "takeover took %.1f s (claim threshold %.0f s)" % (worst, CLAIM_IDLE)
    return seconds, "kills=%d (holding %s entries) accepted=%d deliveries=%d max-takeover=%.1fs (claim threshold %.0fs + scan every %.0fs)" % (
        len(takeovers), "/".join(map(str, held)), len(load.accepted), figures["deliveries"], worst, CLAIM_IDLE, CLAIM_INTERVAL)


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
    poison_entry = subprocess.run(
        cli + ["XADD", "rental-events", "*", "id", poison_id, "type", "RentalOrdered", "key", "poison",
               "occurredAt", "2026-01-01T00:00:00.000Z", "correlationId", "poison", "causationId", "",
               "data", '{"rentalId": 42}'], check=True, capture_output=True, text=True).stdout.strip()
    garbage_entry = subprocess.run(cli + ["XADD", "rental-events", "*", "hello", "world"], check=True, capture_output=True,
                                   text=True).stdout.strip()
    load.wait()
    seconds, figures = converge(cluster, load.accepted, expect_dead_letters=True)
    redis = cluster.redis.client()
    try:
        # Every group of every stream dead-lettered exactly the two bad entries of its stream, nothing else.
        for stream in invariants.CONTRACTS.streams:
            expected = {poison_entry: 5, garbage_entry: 1} if stream == "rental-events" else {}
            for group in invariants.CONTRACTS.groups[stream]:
                entries = xrange_all(redis, "%s:dead:%s" % (stream, group))
                found = {fields.get("dead.entryId"): int(fields.get("dead.attempts", 0)) for _, fields in entries}
                assert found == expected and len(entries) == len(expected), "%s/%s dead letters: %s, expected %s" % (
                    stream, group, found, expected)
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
    return seconds, "accepted=%d dead-lettered per group=2 (poison after 5 attempts, garbage at once) redrive=ok" % len(load.accepted)


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
