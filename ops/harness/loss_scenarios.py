"""The five ways events used to get lost or doubled, each as a scenario with the usual invariants."""
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

from .invariants import converge, rows
from .load import Load
from .processes import HTTP
from .resp import Redis, RedisError


def scenario_lagging_group(ctx):
    """Delivery stopped; 20 orders; a million other entries through rental-events (redis-benchmark,
    more than the old `MAXLEN ~ 1000000` cap); one more order; Delivery back: all 21 orders get
    their delivery, because trimming never passes what a group has not read."""
    cluster = ctx.cluster("lagging-group")
    cluster.processes["delivery"][0].terminate()
    first = Load(cluster, clients=4, orders=20, cancel_ratio=0).start().wait()
    foreign = ctx.size["foreign_entries"]
    benchmark = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
    subprocess.run(
        [benchmark, "-p", str(cluster.redis.port), "-c", "4", "-P", "100", "-n", str(foreign), "-r", "1000000000", "-q",
         "XADD", "rental-events", "*", "id", "00000000-0000-0000-0000-__rand_int__", "type", "SomethingElse", "key", "foreign",
         "occurredAt", "2026-01-01T00:00:00.000Z", "correlationId", "foreign", "causationId", "none", "data", "{}"],
        check=True, stdout=subprocess.DEVNULL)
    last = Load(cluster, clients=1, orders=1, cancel_ratio=0).start().wait()
    redis = cluster.redis.client()
    length = redis.call("XLEN", "rental-events")
    redis.close()
    cluster.processes["delivery"][0].start()
    back_at = time.time()
    accepted = first.accepted | last.accepted
    seconds, figures = converge(cluster, accepted, since=back_at, timeout=300)
    return seconds, "orders=%d foreign-entries=%d stream-length=%d deliveries=%d (every order delivered)" % (
        len(accepted), foreign, length, figures["deliveries"])


def scenario_redis_wiped(ctx):
    """Redis restarted without any data while Delivery was down: the relays see the streams behind
    what they published and publish their kept events again; Delivery, Lookup and Notifier catch up
    and Lookup's views come back by themselves."""
    cluster = ctx.cluster("redis-wiped")
    before = Load(cluster, orders=ctx.size["orders"] // 4, cancel_ratio=0.2).start().wait()
    converge(cluster, before.accepted)
    cluster.processes["delivery"][0].terminate()
    during = Load(cluster, orders=ctx.size["orders"] // 4, cancel_ratio=0.2).start().wait()
    time.sleep(6)  # the wipe comes later than any fixed "re-send the last few seconds" window would reach
    cluster.redis.wipe()
    wiped_at = time.time()
    cluster.processes["delivery"][0].start()
    seconds, figures = converge(cluster, before.accepted | during.accepted, since=wiped_at, timeout=120)
    return seconds, "orders before=%d while Delivery was down=%d rentals=%d deliveries=%d alerts=%d, all views back" % (
        len(before.accepted), len(during.accepted), figures["rentals"], figures["deliveries"], figures["alerts"])


def scenario_no_dangerous(ctx):
    """The services log in as a Redis user without @dangerous (no INFO); Redis is killed and restarted
    from its AOF under load: publishing, the loss check and recovery work without INFO."""
    cluster = ctx.cluster("no-dangerous", redis_user=("app", "app-password", ["~*", "&*", "+@all", "-@dangerous"]))
    client = Redis(cluster.redis.port)
    try:
        client.call("AUTH", "app", "app-password")
        try:
            client.call("INFO", "server")
            raise AssertionError("INFO is allowed for the services' user")
        except RedisError as error:
            assert str(error).startswith("NOPERM"), error
    finally:
        client.close()
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    time.sleep(ctx.size["load_seconds"] / 2.0)
    cluster.redis.kill9()
    cluster.redis.start()
    fault_at = time.time()
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(fault_at, load.ended_at))
    return seconds, "user without @dangerous (INFO refused) accepted=%d deliveries=%d alerts=%d" % (
        len(load.accepted), figures["deliveries"], figures["alerts"])


def scenario_database_locked(ctx):
    """Notifier's database locked by another process (an EXCLUSIVE transaction) for a while under
    load: Notifier pauses and says so in /health, dead-letters nothing, and every alert appears once
    the lock is gone."""
    cluster = ctx.cluster("database-locked")
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    time.sleep(2)
    locker = sqlite3.connect(cluster.db("notifier"), timeout=30, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    locked_at = time.time()
    paused_seen = []

    def watch():
        while time.time() - locked_at < ctx.size["lock_seconds"]:
            try:
                _, health = HTTP.request(cluster.processes["notifier"][0].port, "GET", "/health")
                if health["events"].get("pausedSince"):
                    paused_seen.append(health["events"].get("pauseReason"))
                    return
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(ctx.size["lock_seconds"])
    locker.execute("ROLLBACK")
    locker.close()
    released_at = time.time()
    watcher.join(timeout=5)
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(released_at, load.ended_at), timeout=120)
    assert paused_seen, "/health never showed Notifier paused while its database was locked"
    _, health = HTTP.request(cluster.processes["notifier"][0].port, "GET", "/health")
    failures = health["events"]["infrastructureFailures"]
    return seconds, "locked %.0fs accepted=%d alerts=%d dead-letters=0 infrastructure-failures=%d (paused: %s)" % (
        released_at - locked_at, len(load.accepted), figures["alerts"], failures, paused_seen[0][:60])


def scenario_retried_order(ctx):
    """Orders carry an Idempotency-Key and clients send them again when no answer came, while Rental
    is killed (-9) every 2 s: every key is one rental, never two."""
    cluster = ctx.cluster("retried-order")
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"], idempotent=True).start()
    kills = 0
    last_fault = 0
    while not load.stop_event.wait(2):
        rental = cluster.processes["rental"][0]
        rental.process.send_signal(signal.SIGKILL)
        rental.process.wait()
        kills += 1
        rental.start()
        last_fault = time.time()
    load.wait()
    seconds, figures = converge(cluster, load.accepted, since=max(last_fault, load.ended_at))
    rentals = rows(cluster.db("rental"), "SELECT COUNT(*) FROM rentals")[0][0]
    assert rentals == len(load.keys) == len(set(load.keys.values())), "%d rentals for %d keys (%d distinct ids)" % (
        rentals, len(load.keys), len(set(load.keys.values())))
    assert load.retries > 0, "no order was retried: the scenario tested nothing"
    return seconds, "kills=%d keys=%d rentals=%d retries=%d (one rental per key)" % (kills, len(load.keys), rentals, load.retries)


