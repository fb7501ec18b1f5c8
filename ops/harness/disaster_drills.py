"""Disaster drills: a service loses its disk, comes back from a backup, and catches up from the streams.

For Rental, Delivery and Notifier in turn: orders, cancels, deliveries and returns under load; an
online backup (`bookdelivery backup`) in the middle of it; more of the same and a new book after it;
once everything has settled, the service's state is noted, the service is killed (-9), its database
files are deleted, the backup is restored (`bookdelivery restore`) and the service started. Its state
must then equal what it was before the loss, row for row; nothing may be added to the streams (no
answer published twice) and the usual invariants must hold downstream (one delivery per rental,
each alert once); new orders must work. The state is compared after the load stopped, so that
"what it was before the loss" is one thing: events committed in the last milliseconds before a loss
under load and not yet on their stream are not on any stream, and no backup has them either.

And a backup older than the streams' history: the service refuses to start, and starts with
`--accept-loss`, saying what is gone.
"""
import os
import re
import subprocess
import time

from .invariants import converge, rows
from .load import Load
from .processes import call, wait_for
from .resp import pairs, xrange_iter

# Each service's state, as the API shows it: every column but Notifier's local row number.
STATE = {
    "rental": ["SELECT id, title, author, copies, available, createdAt FROM books ORDER BY id",
               "SELECT id, customerId, bookId, address, status, createdAt, updatedAt FROM rentals ORDER BY id"],
    "delivery": ["SELECT id, rentalId, customerId, bookId, bookTitle, address, status, createdAt, updatedAt FROM deliveries ORDER BY id"],
    "notifier": ["SELECT eventId, kind, customerId, rentalId, message, createdAt FROM alerts ORDER BY eventId"],
}
SUMMARY = re.compile(r"caught up from the streams in ([0-9.]+) s: (\d+) of its own events applied, (\d+) outbox rows found "
                     r"published, consumed events applied: ([^,]*(?:, \d+ from [^,]+)*), (\d+) repeated answers dropped, (\d+) entries read")


def _state(cluster, service):
    return [rows(cluster.db(service), sql) for sql in STATE[service]]


def _lengths(cluster):
    """How many entries were ever added to each stream."""
    redis = cluster.redis.client()
    try:
        return {stream: pairs(redis.call("XINFO", "STREAM", stream))["entries-added"] for stream in ("rental-events", "delivery-events")}
    finally:
        redis.close()


def _bookdelivery(ctx, *arguments):
    result = subprocess.run([ctx.binary] + list(arguments), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "bookdelivery %s failed: %s" % (arguments[0], (result.stderr or result.stdout).strip()[-400:])
    return result.stdout


def _lose_disk(cluster, service):
    """kill -9 every process of the service, then delete its database and its WAL."""
    for process in cluster.processes[service]:
        process.kill9()
    for suffix in ("", "-wal", "-shm"):
        path = cluster.db(service) + suffix
        if os.path.exists(path):
            os.remove(path)


def _differences(before, after):
    changed = 0
    for table_before, table_after in zip(before, after):
        changed += len(set(table_before) ^ set(table_after))
    return changed


def _recovery_line(process):
    with open(process.log_path, errors="replace") as log:
        lines = [line for line in log if "caught up from the streams" in line]
    assert lines, "the service did not say it caught up (see %s)" % process.log_path
    match = SUMMARY.search(lines[-1])
    assert match, "unreadable summary: %s" % lines[-1].strip()
    consumed = sum(int(n) for n in re.findall(r"(\d+) from ", match.group(4)))
    return {"seconds": float(match.group(1)), "own": int(match.group(2)), "marked": int(match.group(3)), "consumed": consumed,
            "dropped": int(match.group(5)), "read": int(match.group(6))}


def _drill(ctx, service):
    cluster = ctx.cluster("drill-" + service)
    load = Load(cluster, seconds=ctx.size["load_seconds"], per_client_rate=ctx.size["client_rate"]).start()
    wait_for(lambda: len(load.accepted) >= 300, 60, "300 orders before the backup")
    backup = os.path.join(cluster.workdir, service + ".backup")
    _bookdelivery(ctx, "backup", "--db", cluster.db(service), "--to", backup)
    at_backup = len(load.accepted)
    status, _ = call(cluster, "rental", "POST", "/books", {"title": "After the backup", "author": "Drill", "copies": 2})
    assert status == 201, status
    load.wait()
    converge(cluster, load.accepted)
    before, lengths = _state(cluster, service), _lengths(cluster)

    _lose_disk(cluster, service)
    _bookdelivery(ctx, "restore", "--db", cluster.db(service), "--from", backup)
    behind = _differences(before, _state(cluster, service))
    assert behind > 0, "the backup already had everything: nothing was recovered"
    process = cluster.processes[service][0]
    started = time.time()
    process.start()
    recovery = time.time() - started
    after = _state(cluster, service)
    summary = _recovery_line(process)
    differing = _differences(before, after)
    assert differing == 0, "%d rows differ from before the loss (%d differed in the backup)" % (differing, behind)
    if service != "notifier":  # what its outbox holds has gone out: an answer made again would be on the stream now
        wait_for(lambda: rows(cluster.db(service), "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL")[0][0] == 0, 30,
                  "empty outbox")
    assert _lengths(cluster) == lengths, "events were published again: %s, before %s" % (_lengths(cluster), lengths)
    converge(cluster, load.accepted)
    more = Load(cluster, clients=4, orders=20, cancel_ratio=0).start().wait()
    assert len(more.accepted) == 20, "new orders refused after the recovery: %d of 20" % len(more.accepted)
    _, figures = converge(cluster, load.accepted | more.accepted)
    rows_kept = sum(len(table) for table in before)
    return recovery, ("backup at %d orders, %d after; %d rows, %d behind in the backup, equal after; start-to-serving %.2fs "
                      "(catch-up %.2fs): %d own events applied, %d consumed applied, %d answers dropped, %d entries read; "
                      "streams unchanged; 20 new orders ok; deliveries=%d alerts=%d") % (
        at_backup, len(load.accepted), rows_kept, behind, recovery, summary["seconds"], summary["own"], summary["consumed"],
        summary["dropped"], summary["read"], figures["deliveries"], figures["alerts"])


def scenario_drill_rental(ctx):
    return _drill(ctx, "rental")


def scenario_drill_delivery(ctx):
    return _drill(ctx, "delivery")


def scenario_drill_notifier(ctx):
    return _drill(ctx, "notifier")


def scenario_drill_rental_under_load(ctx):
    """The recovery point, measured: Rental loses its disk in the middle of the load (kill -9, no
    pause first), comes back from a backup and catches up while orders keep coming. Orders it had
    answered 201 whose event was not yet on the stream when it died are gone (committed in the lost
    database, published nowhere): they are counted, and each must be missing from the stream too;
    everything else must hold, downstream included."""
    cluster = ctx.cluster("drill-rental-under-load")
    load = Load(cluster, seconds=ctx.size["load_seconds"] + 4, per_client_rate=ctx.size["client_rate"]).start()
    wait_for(lambda: len(load.accepted) >= 300, 60, "300 orders before the backup")
    backup = os.path.join(cluster.workdir, "rental.backup")
    _bookdelivery(ctx, "backup", "--db", cluster.db("rental"), "--to", backup)
    at_backup = len(load.accepted)
    wait_for(lambda: len(load.accepted) >= at_backup + 1000, 60, "1000 orders after the backup")
    _lose_disk(cluster, "rental")
    at_loss = len(load.accepted)
    _bookdelivery(ctx, "restore", "--db", cluster.db("rental"), "--from", backup)
    started = time.time()
    cluster.processes["rental"][0].start()
    recovery = time.time() - started
    load.wait()
    redis = cluster.redis.client()
    try:
        published = {fields.get("key") for _, fields in xrange_iter(redis, "rental-events") if fields.get("type") == "RentalOrdered"}
    finally:
        redis.close()
    kept = {row[0] for row in rows(cluster.db("rental"), "SELECT id FROM rentals")}
    lost = load.accepted - kept
    assert not (lost & published), "%d orders on the stream were not recovered" % len(lost & published)
    _, figures = converge(cluster, load.accepted - lost)
    return recovery, ("backup at %d orders, the loss at %d (under %d orders/s offered); start-to-serving %.2fs; "
                      "orders answered 201 but lost (committed, not yet on the stream): %d; %d accepted in all, "
                      "invariants hold for the rest; deliveries=%d alerts=%d") % (
        at_backup, at_loss, 50 * ctx.size["client_rate"], recovery, len(lost), len(load.accepted), figures["deliveries"],
        figures["alerts"])


def scenario_drill_history_gone(ctx):
    """Rental's backup, then orders, then the stream trimmed past the backup (as retention would
    after 7 days): restored, Rental refuses to start; with --accept-loss it starts and says what is gone."""
    cluster = ctx.cluster("drill-history-gone")
    first = Load(cluster, clients=4, orders=40, cancel_ratio=0).start().wait()
    converge(cluster, first.accepted)
    backup = os.path.join(cluster.workdir, "rental.backup")
    _bookdelivery(ctx, "backup", "--db", cluster.db("rental"), "--to", backup)
    later = Load(cluster, clients=4, orders=40, cancel_ratio=0).start().wait()
    converge(cluster, first.accepted | later.accepted)
    redis = cluster.redis.client()
    trimmed = redis.call("XTRIM", "rental-events", "MAXLEN", "5")
    redis.close()
    _lose_disk(cluster, "rental")
    _bookdelivery(ctx, "restore", "--db", cluster.db("rental"), "--from", backup)
    process = cluster.processes["rental"][0]
    started = time.time()
    process.start(wait=False)
    try:
        code = process.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill9()
        raise AssertionError("Rental started on a backup older than its stream's history")
    refused_in = time.time() - started
    with open(process.log_path, errors="replace") as log:
        text = log.read()
    assert code == 3 and "not starting" in text and "no longer holds" in text, "exit %s: %s" % (code, text[-600:])
    process.start(extra_args=["--accept-loss"])
    with open(process.log_path, errors="replace") as log:
        warnings = [line.strip() for line in log if "history lost" in line]
    assert warnings, "started with --accept-loss without saying what is gone"
    counted = re.search(r"at most (\d+)", warnings[-1])
    assert counted and int(counted.group(1)) >= len(later.accepted), warnings[-1]
    more = Load(cluster, clients=2, orders=5, cancel_ratio=0).start().wait()
    assert len(more.accepted) == 5, "orders refused after starting with --accept-loss"
    return refused_in, "trimmed %d entries; refused (exit 3) in %.2fs; with --accept-loss: '%s'; 5 new orders ok" % (
        trimmed, refused_in, warnings[-1].split("history lost: ")[-1][:160])
