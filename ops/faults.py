#!/usr/bin/env python3
"""Fault-injection harness for bookdelivery.

Runs the real `bookdelivery` processes and a private redis-server on loopback, drives load through
the HTTP APIs, injects faults (kill -9, SIGTERM, Redis crashes and outages, poison entries, replays, a service's lost disk),
then checks the invariants against the services' SQLite files, the Lookup hashes and the streams.

One line per scenario with its figures, then `N passed, N failed`. Exit status 1 when any failed.

    python3 ops/faults.py --binary .build/debug/bookdelivery --mode short   # a few minutes (the test command)
    python3 ops/faults.py --binary .build/debug/bookdelivery --mode long    # full size
    python3 ops/faults.py --only scale-out,rebuild                          # some scenarios

Only the standard library; the parts live in ops/harness/ (RESP client, processes, load, invariants,
scenarios, replays). The saga's rules come from `bookdelivery contracts`.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

from harness.disaster_drills import (scenario_drill_delivery, scenario_drill_history_gone, scenario_drill_notifier,
                                     scenario_drill_rental, scenario_drill_rental_under_load)
from harness.invariants import load_contracts
from harness.failover_scenarios import (scenario_redis_failover, scenario_redis_failover_lossy,
                                        scenario_redis_primary_restarts_as_replica)
from harness.loss_scenarios import (scenario_database_locked, scenario_lagging_group, scenario_no_dangerous, scenario_redis_wiped,
                                    scenario_retried_order)
from harness.processes import Cluster
from harness.replay import scenario_rebuild, scenario_replay
from harness.scenarios import (scenario_consumer_crashes, scenario_graceful_stop, scenario_poison, scenario_producer_crash,
                               scenario_redis_away, scenario_redis_crash, scenario_scale_out)

CONVERGENCE_TARGET = 5.0
# Scenarios whose figure is a drain of a deliberately built backlog, not a recovery from a fault.
UNTIMED = {"duplicates-and-reordering", "lagging-group"}
SIZES = {
    # orders: the scale-out run, as fast as 50 clients go; client_rate: orders per second per client
    # in the timed fault runs, 50 clients (500 orders/s in all), a steady load rather than saturation.
    # foreign_entries: what passes through rental-events while Delivery is down, past the old 1,000,000 cap;
    # lock_seconds: how long Notifier's database stays locked.
    "short": {"orders": 2000, "load_seconds": 8, "replay_orders": 200, "client_rate": 10, "foreign_entries": 1050000, "lock_seconds": 60},
    "long": {"orders": 5000, "load_seconds": 30, "replay_orders": 1000, "client_rate": 10, "foreign_entries": 1050000, "lock_seconds": 60},
}


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
    ("lagging-group", scenario_lagging_group),
    ("redis-wiped", scenario_redis_wiped),
    ("no-dangerous", scenario_no_dangerous),
    ("database-locked", scenario_database_locked),
    ("retried-order", scenario_retried_order),
    ("redis-failover", scenario_redis_failover),
    ("redis-failover-lossy", scenario_redis_failover_lossy),
    ("redis-primary-restarts-as-replica", scenario_redis_primary_restarts_as_replica),
    ("drill-rental", scenario_drill_rental),
    ("drill-delivery", scenario_drill_delivery),
    ("drill-notifier", scenario_drill_notifier),
    ("drill-rental-under-load", scenario_drill_rental_under_load),
    ("drill-history-gone", scenario_drill_history_gone),
]


class Context:
    def __init__(self, binary, root, size):
        self.binary = binary
        self.root = root
        self.size = size
        self.clusters = []

    def cluster(self, name, counts=None, start=None, **options):
        counts = dict(counts or {})
        if start is not None:
            for service, wanted in start.items():
                if not wanted:
                    counts[service] = 0
        cluster = Cluster(self.binary, self.root, name, counts, **options)
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
    if shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None:
        sys.exit("redis-server or redis-sentinel not found: run scripts/setup")
    load_contracts(binary)
    selected = [s for s in SCENARIOS if not args.only or s[0] in args.only.split(",")]
    root = tempfile.mkdtemp(prefix="bookdelivery-faults-")
    print("fault injection (%s): %d scenarios, work directory %s" % (args.mode, len(selected), root), flush=True)
    passed = failed = over_target = 0
    for name, scenario in selected:
        ctx = Context(binary, root, SIZES[args.mode])
        started = time.time()
        try:
            seconds, figures = scenario(ctx)
            flag = "" if seconds <= CONVERGENCE_TARGET or name in UNTIMED else " (over the %.0f s target)" % CONVERGENCE_TARGET
            over_target += 1 if flag else 0
            print("PASS %-33s convergence=%.2fs%s %s [%.0fs]" % (name, seconds, flag, figures, time.time() - started), flush=True)
            passed += 1
        except Exception as error:  # a failed scenario must not stop the others
            print("FAIL %-33s %s [%.0fs]" % (name, error, time.time() - started), flush=True)
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
