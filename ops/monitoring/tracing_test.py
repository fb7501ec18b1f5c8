#!/usr/bin/env python3
"""One order's trace, from the click to every service through the streams (part of the test command).

A small OTLP/HTTP receiver (protobuf, decoded with the `opentelemetry-proto` package) stands in for a
collector; `bookdelivery up` runs with OTEL_EXPORTER_OTLP_ENDPOINT pointing at it. An order placed
with a `traceparent` header must come back as one trace: the gateway's spans, Rental's request and
SQLite commit and `create rental-events`, then a `process` span per consuming group (Delivery,
Lookup, Notifier, and Rental again for `delivery-events`), Lookup's view updates and Notifier's
alert, each span's parent in the trace, the messaging attributes of OpenTelemetry's conventions on
the `process` spans, and the log lines of the flow carrying its trace_id.

    .venv-web/bin/python ops/monitoring/tracing_test.py --binary .build/debug/bookdelivery
"""
import argparse
import http.server
import json
import os
import secrets
import sys
import threading
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
from demos import Up, a_book, free_port, wait_for  # noqa: E402

SPANS = []
LOCK = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    """OTLP/HTTP: POST /v1/traces with an ExportTraceServiceRequest."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with LOCK:
            for resource in request.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes if a.key == "service.name"), "?")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        SPANS.append({
                            "service": service, "name": span.name, "trace": span.trace_id.hex(), "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(), "kind": span.kind, "links": len(span.links),
                            "linked": [link.trace_id.hex() for link in span.links],
                            "attributes": {a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                        })
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *arguments):
        pass


def order_traced(up, book, trace_id, parent=None, flags="01"):
    """Alice orders `book` with a `traceparent` of `trace_id`; returns the rental's id."""
    request = urllib.request.Request(up.gateway + "/rentals", method="POST",
                                     data=json.dumps({"bookId": book, "address": "1 Main St"}).encode())
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Bearer " + up.tokens["ALICE"])
    request.add_header("traceparent", "00-%s-%s-%s" % (trace_id, parent or secrets.token_hex(8), flags))
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read())["id"]


def trace(trace_id):
    with LOCK:
        return [s for s in SPANS if s["trace"] == trace_id]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    arguments = parser.parse_args()

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % receiver.server_address[1]
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "500"  # ms: spans go out within a second
    up = Up(arguments.binary)
    try:
        book = a_book(up)
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        order_traced(up, book, trace_id, parent)
        print("POST /rentals with traceparent 00-%s-%s-01" % (trace_id, parent))

        def complete(trace_id=trace_id):
            spans = trace(trace_id)
            processed = {(s["attributes"].get("messaging.consumer.group.name"), s["attributes"].get("messaging.destination.name"))
                         for s in spans if s["name"].startswith("process ")}
            wanted = {("delivery", "rental-events"), ("lookup", "rental-events"), ("notifier", "rental-events"),
                      ("rental", "delivery-events"), ("lookup", "delivery-events")}
            names = {s["name"] for s in spans}
            # Each process exports its spans in batches of its own: the gateway's may come last.
            services = {s["service"] for s in spans}
            return wanted <= processed and "gateway" in services and "update view" in names and any(n.startswith("alert ") for n in names) and spans
        try:
            spans = wait_for(complete, 60, "the order's trace to reach every service")
        except AssertionError:
            with LOCK:
                for s in SPANS:
                    print("  got: %s %s %s trace=%s parent=%s" % (s["service"], s["name"], s["attributes"], s["trace"], s["parent"]))
            raise
        services = sorted({s["service"] for s in spans})
        assert services == ["delivery", "gateway", "lookup", "notifier", "rental"], services
        ids = {s["id"] for s in spans}
        roots = [s for s in spans if s["parent"] not in ids]
        assert [r["parent"] for r in roots] == [parent], "one root, the caller's span's child: %s" % roots
        names = {(s["service"], s["name"]) for s in spans}
        for expected in [("rental", "SQLite commit"), ("rental", "create rental-events"), ("delivery", "create delivery-events")]:
            assert expected in names, "%s in %s" % (expected, sorted(names))
        for span in spans:
            if span["name"].startswith("process "):
                attributes = span["attributes"]
                assert attributes["messaging.system"] == "redis" and attributes["messaging.operation.type"] == "process", span
                assert attributes["messaging.message.id"] and span["kind"] == 5, span  # SPAN_KIND_CONSUMER
        # The relay's `send` spans are traces of their own, linked to the events' `create` spans.
        wait_for(lambda: [s for s in SPANS if s["name"].startswith("send ") and s["links"] > 0], 30, "a send span with links")
        by_service = {}
        for s in spans:
            by_service.setdefault(s["service"], []).append(s["name"])
        for service in services:
            print("  %-9s %s" % (service, ", ".join(sorted(set(by_service[service])))))
        print("one trace, %d spans across %s" % (len(spans), ", ".join(services)))
        # A trace the caller did not sample (flags 00): nothing recorded anywhere, and no consumer
        # starts a trace of its own for its events (their entries carry the flags on).
        unsampled = secrets.token_hex(16)
        rental = order_traced(up, book, unsampled, flags="00")
        wait_for(lambda: up.http("GET", "/rentals/%s" % rental)[2].get("deliveryStatus") not in (None, "pending"), 30,
                 "the unsampled order's delivery to be scheduled")
        wait_for(lambda: "rental=%s" % rental in up.text(), 30, "the unsampled order's alert")
        # Each process exports its spans in order: once a later order's whole trace is in, whatever
        # the unsampled flow made has been exported too.
        later = secrets.token_hex(16)
        order_traced(up, book, later)
        wait_for(lambda: complete(later), 60, "a later order's trace")
        assert not trace(unsampled), "spans of an unsampled trace: %s" % trace(unsampled)
        # The relay's `send` spans lead only to sampled `create`s: none for the unsampled order's events.
        sends = [s for s in SPANS if s["name"].startswith("send ") and (unsampled in s["linked"] or not s["linked"])]
        assert not sends, "a send span for events of an unsampled trace: %s" % sends
        roots = [s for s in SPANS if s["name"].startswith(("process ", "create ")) and not s["parent"]]
        assert not roots, "a consumer started a trace of its own: %s" % roots
        print("an unsampled order (flags 00): no span recorded, and no consumer started a trace of its own")
        wait_for(lambda: "trace_id=%s" % trace_id in up.text(), 30, "a log line with the trace id")
        line = next(line for line in up.text().splitlines() if "trace_id=%s" % trace_id in line)
        print("a log line of the flow: " + line[:200])
    finally:
        up.stop()
        receiver.shutdown()
    print("tracing: ok")


if __name__ == "__main__":
    main()
