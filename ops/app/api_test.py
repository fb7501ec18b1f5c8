#!/usr/bin/env python3
"""The gateway's API against its OpenAPI document (Sources/Gateway/Resources/openapi.json), on the
real system (`bookdelivery up`):

1. the document is valid OpenAPI 3.1, and the gateway serves exactly it at /openapi.json;
2. every operation in it is called for real, in the customer's, courier's and admin's journeys and
   their refusals (400, 401, 403, 404, 405, 409, 413, 422, 429), and every answer conforms: its
   status is documented for the operation, its body matches the schema, required headers are there;
3. schemathesis fuzzes every operation with each role's token, a few hundred cases in all: no 5xx,
   every answer conforms (status, content type, headers, schema).

    .venv-web/bin/python ops/app/api_test.py --binary .build/debug/bookdelivery [--examples N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from system import System, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENT_PATH = os.path.join(HERE, "..", "..", "Sources", "Gateway", "Resources", "openapi.json")


class Conformance:
    """Checks real answers against the document and remembers which operations were seen."""

    def __init__(self, document):
        self.document = document
        self.registry = Registry().with_resource("urn:api", Resource.from_contents(document, default_specification=DRAFT202012))
        self.seen = set()

    def resolve(self, node):
        while "$ref" in node:
            path = node["$ref"].lstrip("#/").split("/")
            node = self.document
            for part in path:
                node = node[part]
        return node

    def template(self, path):
        """The document's path template for a concrete path."""
        parts = path.split("?")[0].strip("/").split("/")
        for template in self.document["paths"]:
            pattern = template.strip("/").split("/")
            if len(pattern) == len(parts) and all(p.startswith("{") or p == q for p, q in zip(pattern, parts)):
                return template
        raise AssertionError("%s is not in the document" % path)

    def check(self, method, path, status, body, response):
        template = self.template(path)
        operation = self.document["paths"][template].get(method.lower())
        if not operation and status == 405:
            # A method the path does not have: the document's MethodNotAllowed answer.
            operation = {"responses": {"405": {"$ref": "#/components/responses/MethodNotAllowed"}}}
            assert response.getheader("Allow"), "405 names the allowed methods"
        assert operation, "%s %s is not in the document" % (method, template)
        if method.lower() in self.document["paths"][template]:
            self.seen.add((method.upper(), template))
        responses = operation["responses"]
        described = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) or responses.get("default")
        assert described, "%s %s answered %d, which the document does not list (%s)" % (method, path, status, sorted(responses))
        described = self.resolve(described)
        for name, header in described.get("headers", {}).items():
            header = self.resolve(header)
            if header.get("required"):
                assert response.getheader(name) is not None, "%s %s %d lacks the required header %s" % (method, path, status, name)
        content = described.get("content")
        if content:
            media = (response.getheader("Content-Type") or "").split(";")[0]
            assert media in content, "%s %s %d: content type %r, documented %s" % (method, path, status, media, list(content))
            schema = content[media]["schema"]
            # References made absolute, into the registered document.
            schema = json.loads(json.dumps(schema).replace('"#/components/', '"urn:api#/components/'))
            validator = Draft202012Validator(schema, registry=self.registry)
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            assert not errors, "%s %s %d: the body does not match the schema: %s\n%s" % (
                method, path, status, errors[0].message, json.dumps(body)[:500])


def journeys(system, conformance):
    """Every operation, for real, with the answers checked. Returns how many calls were made."""
    tokens = system.tokens
    calls = [0]

    def call(method, path, expected, body=None, token=None, headers=None, url=None):
        if url:
            status, parsed, response = System.request(url + path, method, body, token, headers)
        else:
            status, parsed, response = system.api(method, path, body, token, headers)
        calls[0] += 1
        assert status == expected, "%s %s: %d, expected %d: %s" % (method, path, status, expected, parsed)
        assert response.getheader("X-Request-Id"), "every answer has X-Request-Id"
        conformance.check(method, path, status, parsed, response)
        return parsed, response

    key = lambda: {"Idempotency-Key": str(uuid.uuid4())}  # noqa: E731

    # The gateway itself.
    call("GET", "/live", 200)
    call("GET", "/ready", 200)
    call("GET", "/health", 200)
    served, _ = call("GET", "/openapi.json", 200)
    assert served == conformance.document, "the gateway serves the document in the repository"

    # Books: registered by admins, browsed by anyone.
    book, _ = call("POST", "/books", 201, {"title": "채식주의자", "author": "한강", "copies": 3}, tokens["admin"], key())
    single, _ = call("POST", "/books", 201, {"title": "The One Copy", "author": "A. Writer", "copies": 1}, tokens["admin"], key())
    call("POST", "/books", 403, {"title": "x", "author": "y"}, tokens["alice"], key())
    call("POST", "/books", 401, {"title": "x", "author": "y"})
    call("POST", "/books", 400, {"title": "", "author": "y"}, tokens["admin"])
    call("POST", "/books", 413, "x" * (70 * 1024), tokens["admin"])
    repeated = key()
    call("POST", "/books", 201, {"title": "Twice", "author": "Same Key"}, tokens["admin"], repeated)
    call("POST", "/books", 422, {"title": "Other", "author": "Same Key"}, tokens["admin"], repeated)
    listed, response = call("GET", "/books?limit=1", 200)
    assert len(listed) == 1 and 'rel="next"' in response.getheader("Link"), "a page of one, with the next page's address"
    found, _ = call("GET", "/books?q=%ED%95%9C%EA%B0%95", 200)
    assert [b["id"] for b in found] == [book["id"]], "search finds the book by its Korean author"
    call("GET", "/books/%s" % book["id"], 200)
    call("GET", "/books/%s" % uuid.uuid4(), 404)
    call("GET", "/books/not-a-uuid", 400)
    call("DELETE", "/books", 405)

    # A customer's journey: order, see it, the courier delivers, return; a second order canceled.
    rental, _ = call("POST", "/rentals", 201, {"bookId": book["id"], "address": "서울 종로구 1"}, tokens["alice"], key())
    call("POST", "/rentals", 400, {"bookId": book["id"]}, tokens["alice"], key())
    call("POST", "/rentals", 401, {"bookId": book["id"], "address": "x"})
    call("POST", "/rentals", 201, {"bookId": single["id"], "address": "1 Main St"}, tokens["bob"], key())
    call("POST", "/rentals", 409, {"bookId": single["id"], "address": "2 Main St"}, tokens["alice"], key())
    call("POST", "/rentals", 403, {"bookId": book["id"], "address": "x", "customerId": "bob"}, tokens["alice"], key())
    call("GET", "/rentals", 200, token=tokens["alice"])
    call("GET", "/rentals?customerId=bob", 403, token=tokens["alice"])
    call("GET", "/rentals/%s" % rental["id"], 200, token=tokens["alice"])
    call("GET", "/rentals/%s" % rental["id"], 404, token=tokens["bob"])
    call("GET", "/customers/alice/rentals", 200, token=tokens["alice"])
    call("GET", "/customers/alice/rentals", 403, token=tokens["bob"])

    def delivery_of(rental_id):
        def found():
            status, body, _ = system.api("GET", "/deliveries?rentalId=%s" % rental_id, token=tokens["courier"])
            return body[0] if status == 200 and body else None
        return wait_for(found, 30, "the delivery of %s" % rental_id)

    delivery = delivery_of(rental["id"])
    call("GET", "/deliveries?status=ready,started&limit=50", 200, token=tokens["courier"])
    call("GET", "/deliveries?status=lost", 400, token=tokens["courier"])
    call("GET", "/deliveries", 403, token=tokens["alice"])
    call("GET", "/deliveries/%s" % delivery["id"], 200, token=tokens["courier"])
    call("POST", "/rentals/%s/return" % rental["id"], 409, token=tokens["alice"], headers=key())
    call("POST", "/deliveries/%s/complete" % delivery["id"], 409, token=tokens["courier"], headers=key())
    call("POST", "/deliveries/%s/start" % delivery["id"], 200, token=tokens["courier"], headers=key())
    wait_for(lambda: system.api("GET", "/rentals/%s" % rental["id"], token=tokens["alice"])[1]["status"] == "delivering", 30,
             "Rental to learn that the delivery started")
    call("POST", "/rentals/%s/cancel" % rental["id"], 409, token=tokens["alice"], headers=key())
    call("POST", "/deliveries/%s/complete" % delivery["id"], 200, token=tokens["courier"], headers=key())
    wait_for(lambda: system.api("GET", "/rentals/%s" % rental["id"], token=tokens["alice"])[1]["status"] == "delivered", 30,
             "Rental to learn that the delivery was completed")
    call("POST", "/rentals/%s/return" % rental["id"], 200, token=tokens["alice"], headers=key())

    second, _ = call("POST", "/rentals", 201, {"bookId": book["id"], "address": "3 Side St"}, tokens["alice"], key())
    call("POST", "/rentals/%s/cancel" % second["id"], 202, token=tokens["alice"], headers=key())
    call("POST", "/rentals/%s/cancel" % uuid.uuid4(), 404, token=tokens["alice"], headers=key())

    alerts, _ = call("GET", "/alerts?limit=10", 200, token=tokens["alice"])
    call("GET", "/alerts?kind=new_book", 200, token=tokens["admin"])
    call("GET", "/alerts?kind=nonsense", 400, token=tokens["admin"])
    call("GET", "/alerts", 401, token="not-a-token")

    # 429: a gateway whose limit is one request and then one every 20 s.
    strict = system.start_gateway("--rate-limit", "0.05", "--burst", "1")
    call("GET", "/rentals", 200, token=tokens["bob"], url=strict)
    _, response = call("GET", "/rentals", 429, token=tokens["bob"], url=strict)
    assert int(response.getheader("Retry-After")) >= 1
    return calls[0]


# What the answers must be: no 5xx; status, content type, headers and body as documented; a 405 for
# an undeclared method; a 4xx for data the schema forbids. Not `positive_data_acceptance`: a cursor
# is opaque (any string is schema-valid, only the API's own are accepted) and a reused
# Idempotency-Key with another body is rightly refused (422).
CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
                   "response_schema_conformance", "negative_data_rejection", "unsupported_method", "missing_required_header"])


def fuzz(system, examples, artifacts):
    """schemathesis against the running gateway, once per role; the token reaches it through the
    environment (never a command line)."""
    config = os.path.join(HERE, "schemathesis.toml")
    failures = []
    for role in ["alice", "courier", "admin"]:
        report = os.path.join(artifacts, "schemathesis-%s.json" % role)
        command = [os.path.join(os.path.dirname(sys.executable), "st"), "--config-file", config, "run", DOCUMENT_PATH,
                   "--url", system.fuzz_url, "--max-examples", str(examples), "--seed", "20261122", "--checks", CHECKS,
                   "--report", "ndjson", "--report-ndjson-path", report, "--no-color"]
        result = subprocess.run(command, env=dict(os.environ, FUZZ_TOKEN=system.tokens[role]), capture_output=True, text=True)
        summary = [line for line in result.stdout.splitlines() if "passed" in line or "failed" in line or "cases" in line]
        print("  schemathesis as %s: exit %d; %s" % (role, result.returncode, " | ".join(summary[-3:]).strip()))
        if result.returncode != 0:
            failures.append(role)
            print(result.stdout[-6000:])
    assert not failures, "schemathesis found problems as %s" % ", ".join(failures)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/debug/bookdelivery")
    parser.add_argument("--examples", type=int, default=6, help="schemathesis cases per operation and role (default 6)")
    parser.add_argument("--artifacts", default=".artifacts/api")
    options = parser.parse_args()
    os.makedirs(options.artifacts, exist_ok=True)

    document = json.load(open(DOCUMENT_PATH))
    validate_spec(document)
    assert document["openapi"].startswith("3.1"), "OpenAPI 3.1"
    print("ok   the document is valid OpenAPI %s (%d paths)" % (document["openapi"], len(document["paths"])))

    system = System(options.binary, "api")
    failed = False
    try:
        conformance = Conformance(document)
        count = journeys(system, conformance)
        operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
        missing = sorted(operations - conformance.seen)
        assert not missing, "operations never called: %s" % missing
        print("ok   %d real calls cover all %d operations; every answer conforms" % (count, len(operations)))
        # Fuzzing goes through a gateway without a rate limit: a 429 for most cases would test little.
        system.fuzz_url = system.start_gateway("--rate-limit", "0")
        fuzz(system, options.examples, options.artifacts)
        print("ok   schemathesis: no 5xx, every answer conforms")
    except AssertionError as error:
        failed = True
        print("FAIL %s" % error)
    finally:
        system.stop(keep=True if failed else None)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
