"""Customers, a courier and a service desk driving the system over HTTP."""
import random
import threading
import time
import uuid

from .processes import call


class Load:
    """50 clients ordering books (some cancel right away), plus a courier that starts and completes
    deliveries and a customer service desk that takes returns. Counts what Rental accepted."""

    def __init__(self, cluster, clients=50, orders=None, seconds=None, cancel_ratio=0.1, per_client_rate=None, idempotent=False):
        """`idempotent`: every order carries an `Idempotency-Key`, and a client that gets no answer
        (a connection error, a 5xx) sends it again with the same key until it gets one."""
        self.cluster = cluster
        self.idempotent = idempotent
        self.keys = {}  # Idempotency-Key -> the rental id its 201 named (idempotent mode)
        self.retries = 0
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
            key = str(uuid.UUID(int=rng.getrandbits(128))) if self.idempotent else None
            try:
                status, rental = self._order(body, key)
            except OSError:
                with self.lock:
                    self.errors += 1
                time.sleep(0.05)
                continue
            if status == 201:
                with self.lock:
                    self.accepted.add(rental["id"])
                    if key:
                        self.keys[key] = rental["id"]
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

    def _order(self, body, key):
        """One order; with a key, sent again with the same key until an answer comes (for a minute)."""
        if key is None:
            return call(self.cluster, "rental", "POST", "/rentals", body)
        deadline = time.time() + 60
        while True:
            try:
                status, answer = call(self.cluster, "rental", "POST", "/rentals", body, headers={"Idempotency-Key": key})
                if status < 500:
                    return status, answer
            except OSError:
                if time.time() > deadline:
                    raise
            with self.lock:
                self.retries += 1
            time.sleep(0.05)

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
