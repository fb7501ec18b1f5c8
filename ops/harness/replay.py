"""Replays and rebuilds: the state is a function of the events, whatever their order and repeats."""
import random
import subprocess
import time

from . import invariants
from .invariants import converge, rows
from .load import Load
from .resp import pairs, xrange_all


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
        elif key.startswith("lookup:customer:"):
            views[key] = redis.call("ZRANGE", key, 0, -1, "WITHSCORES")
        # lookup:changes, the stream of view changes the gateway's live pages follow, is no view.
    return views


def scenario_replay(ctx):
    """The streams of a finished run replayed twice, shuffled, into fresh Redis servers, fresh consumer
    groups and fresh databases: Delivery and Lookup end as in the ordered replay and the original."""
    cluster = ctx.cluster("replay-source")
    load = Load(cluster, orders=ctx.size["replay_orders"], cancel_ratio=0.3).start().wait()
    converge(cluster, load.accepted)
    source = cluster.redis.client()
    events = {stream: xrange_all(source, stream) for stream in invariants.CONTRACTS.streams}
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
    lookup_run = replay("replay-lookup", invariants.CONTRACTS.streams, {"lookup": 2}, shuffle=True)
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
