"""The invariants every scenario must reach, and the wait for them.

The saga's rules (streams, groups, which statuses settle together, which hold a copy, which events make
an alert) come from `bookdelivery contracts`, the same source the services are built from.
"""
import json
import sqlite3
import subprocess
import time

from .resp import RedisError, pairs, xrange_all, xrange_iter


class Contracts:
    """What `bookdelivery contracts` prints, read once per run."""

    def __init__(self, binary):
        document = json.loads(subprocess.run([binary, "contracts"], capture_output=True, text=True, check=True).stdout)
        self.streams = document["streams"]
        self.groups = document["groups"]
        self.alert_types = set(document["alertTypes"])
        self.settled = {rental: {delivery} for rental, delivery in document["settledDeliveryStatus"].items()}
        self.copy_holding = set(document["copyHoldingStatuses"])


CONTRACTS = None


def load_contracts(binary):
    global CONTRACTS
    CONTRACTS = Contracts(binary)
    return CONTRACTS


def rows(path, sql):
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def dead_letter_ids(redis):
    ids = set()
    for stream in CONTRACTS.streams:
        for group in CONTRACTS.groups[stream]:
            for _, fields in xrange_all(redis, "%s:dead:%s" % (stream, group)):
                ids.add(fields.get("id"))
    return ids


def drained(cluster, redis):
    """The cheap part of the invariants, checked first on every poll: every group has read and
    acknowledged everything, and the outboxes are empty."""
    problems = []
    for stream in CONTRACTS.streams:
        for info in redis.call("XINFO", "GROUPS", stream):
            group = pairs(info)
            # An unknown lag (nil) is not "drained": Redis cannot tell, so neither can we.
            if group["pending"] != 0 or group.get("lag") != 0:
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
        unsettled = [r for r, (status, _) in rentals.items() if deliveries.get(r) not in CONTRACTS.settled.get(status, set())]
        if unsettled:
            r = unsettled[0]
            problems.append("%d rentals not settled with their delivery (e.g. %s: %s vs %s)" % (
                len(unsettled), r, rentals[r][0], deliveries.get(r)))

        # Copies: reserved once per open rental, released once.
        open_by_book = {}
        for status, book in rentals.values():
            if status in CONTRACTS.copy_holding:
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
        for stream in CONTRACTS.streams:
            for _, fields in xrange_iter(redis, stream):
                if fields.get("type") in CONTRACTS.alert_types and fields.get("id") not in dead:
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
