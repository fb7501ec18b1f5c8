#!/usr/bin/env python3
"""The web app in a real browser: Debian's chromium, headless, driven by Selenium through
chromium-driver, against the real system (`bookdelivery up`, whose gateway runs with --demo).

- a customer orders a book (the form keeps the address when the order is refused) and, without
  reloading, sees the delivery turn to "started" when a courier starts it in a second browser; the
  cancel button is then gone with the reason shown, and a cancel sent from a stale page is refused
  with Rental's reason; once delivered the customer returns the book;
- an operator registers a book with a Korean title, sees streams and groups, and re-drives a dead letter;
- a 429 shows "Busy — try again in N s" (a second gateway with a low rate limit, signed in by pasting
  a token: it has no demo sign-in);
- every page: a language, a label for every field, no horizontal scrolling at phone width (375 px),
  and a screenshot in --artifacts (not in git). With --docs, the README's small screenshots are
  written to docs/.

    .venv-web/bin/python ops/app/browser_test.py --binary .build/debug/bookdelivery
"""
import argparse
import os
import socket
import sys
import time
import traceback
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from system import System, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "..", "..", "docs")


class Browser:
    """One person's browser (its own cookies), saving a screenshot of every page it checks."""

    def __init__(self, name, base, artifacts, width=1100):
        options = webdriver.ChromeOptions()
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US",
                         "--window-size=%d,900" % width, "--disable-gpu"]:
            options.add_argument(argument)
        options.binary_location = "/usr/bin/chromium"
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.name = name
        self.base = base
        self.artifacts = artifacts
        self.shots = 0

    def open(self, path):
        self.driver.get(self.base + path)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self):
        return self.find("main").text

    def wait_text(self, fragment, timeout=20):
        def shown():
            try:
                return fragment in self.find("body").text
            except WebDriverException:  # the page is being replaced
                return False
        return wait_for(shown, timeout, "%r on %s's page" % (fragment, self.name))

    def sign_in_as(self, identity):
        self.open("/")
        self.find("#demo-%s" % identity).click()
        wait_for(lambda: "/app/" in self.driver.current_url and self.all("form.who"), 20, "%s signed in" % identity)

    def check_page(self, label):
        """What every page must have, and its screenshot."""
        driver = self.driver
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "the page has a language"
        assert driver.title.strip(), "the page has a title"
        assert self.all("main h1"), "the page has a heading"
        for field in self.all("input:not([type=hidden]), textarea, select"):
            identifier = field.get_attribute("id")
            assert identifier and self.all("label[for='%s']" % identifier), "field %r on %s has a label" % (field.get_attribute("name"), label)
        assert not self.all("pre, .stacktrace") and self.find("body").text.strip(), "never a blank page"
        low = self.driver.execute_script(CONTRAST_CHECK)
        assert not low, "text below WCAG AA contrast (4.5:1) on %s: %s" % (label, low)
        self.shots += 1
        driver.save_screenshot(os.path.join(self.artifacts, "%s-%02d-%s.png" % (self.name, self.shots, label)))

    def check_phone_width(self, label):
        """At 375 px nothing makes the page scroll sideways."""
        size = self.driver.get_window_size()
        self.driver.set_window_size(375, 800)
        try:
            wide = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 1, "%s is %d px too wide at phone width" % (label, wide)
            self.shots += 1
            self.driver.save_screenshot(os.path.join(self.artifacts, "%s-%02d-%s-phone.png" % (self.name, self.shots, label)))
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def live_state(self):
        """The page's EventSource: 0 connecting, 1 open, 2 closed; None when the page has none."""
        return self.driver.execute_script("return window.bookdelivery ? window.bookdelivery.live.readyState : null")

    def quit(self):
        self.driver.quit()


# Every visible piece of text, buttons' and their parts' included, against the background it is
# drawn on (the nearest ancestor with one, the text's own colour blended onto it when translucent):
# the WCAG 2 contrast ratio, at least 4.5:1 (AA for normal text). Returns what falls short.
CONTRAST_CHECK = """
const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const background = e => { for (; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
  if (c && c[3] > 0) return c; } return [255, 255, 255, 1]; };
const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
const luminance = c => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
const low = [];
for (const e of document.querySelectorAll('body *')) {
  if (!e.getClientRects().length || e.closest('[disabled], .skip')) continue;
  const text = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (!text) continue;
  const style = getComputedStyle(e);
  if (style.visibility === 'hidden') continue;
  const back = background(e); let fore = parse(style.color);
  const alpha = fore[3] * Number(style.opacity);
  fore = [0, 1, 2].map(i => fore[i] * alpha + back[i] * (1 - alpha));
  const [a, b] = [luminance(fore), luminance(back)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) low.push(e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' "' + text.slice(0, 30) + '" ' + ratio.toFixed(2));
}
return low;
"""


def explain_live(system, browser, rental_id):
    """What a live page, the API, Lookup's changes and the logs say, for a failure message."""
    lines = []
    try:
        cards = browser.all("#rental-%s" % rental_id if rental_id else "li.rental")
        lines.append("page %s: EventSource readyState=%s; cards: %s" % (browser.driver.current_url, browser.live_state(), [
            (e.get_attribute("id"), e.get_attribute("data-delivery"), e.text.replace("\n", " | ")) for e in cards]))
    except WebDriverException as error:
        lines.append("page: %s" % error)
    status, views, _ = system.api("GET", "/customers/alice/rentals", token=system.tokens["alice"])
    lines.append("API GET /customers/alice/rentals: %s %s" % (status, views))
    try:
        redis = system.redis("admin")
        lines.append("lookup:changes, newest 5: %s" % redis.call("XREVRANGE", "lookup:changes", "+", "-", "COUNT", "5"))
        lines.append("delivery-events, newest 3: %s" % redis.call("XREVRANGE", "delivery-events", "+", "-", "COUNT", "3"))
        redis.close()
    except Exception as error:  # noqa: BLE001 - a diagnosis must not hide the failure
        lines.append("redis: %s" % error)
    lines.append("up.log, last 30 lines:\n" + "".join(open(system.log_path, encoding="utf-8", errors="replace").readlines()[-30:]))
    return "\n".join(lines)


def scenario_operator(system, artifacts, docs):
    """An admin registers a Korean-titled book, sees the streams, and re-drives a dead letter."""
    admin = Browser("operator", system.gateway_url, artifacts)
    try:
        admin.open("/")
        assert admin.all("#demo-admin"), "up's gateway offers the demo identities"
        admin.check_page("sign-in")
        admin.open("/app/no-such-page")
        admin.wait_text("There is no such page.")
        admin.check_page("not-found")
        admin.sign_in_as("admin")
        assert "/app/operations" in admin.driver.current_url, "an admin lands on the operator's page"
        admin.wait_text("rental-events")
        assert "Removed by the hard cap, read or not: none" in admin.text(), "as `bookdelivery streams` reports it"
        admin.check_page("operations")
        admin.open("/app/books")
        admin.find("#title").send_keys("채식주의자")
        admin.find("#author").send_keys("한강")
        admin.find("#copies").clear()
        admin.find("#copies").send_keys("3")
        admin.find("#register-heading ~ form button").click()
        admin.wait_text("The book is registered")
        titles = [e.text for e in admin.all("li.book h2")]
        assert "채식주의자" in titles, "the Korean title is listed: %s" % titles
        # Rendered, not boxes: the title's glyphs are as wide as a CJK font draws them.
        width = admin.driver.execute_script(
            "const e=[...document.querySelectorAll('li.book h2')].find(h=>h.textContent==='채식주의자');"
            "const r=document.createRange(); r.selectNodeContents(e); return r.getBoundingClientRect().width")
        assert width > 60, "the Korean title renders (%.0f px wide)" % width
        admin.check_page("books")

        # A dead letter: an event Notifier gave up on, as its dead-letter stage writes it.
        redis = system.redis("admin")
        newest = redis.call("XREVRANGE", "rental-events", "+", "-", "COUNT", "1")
        assert newest, "the book's event is on rental-events"
        fields = newest[0][1]
        dead = "rental-events:dead:notifier"
        redis.call("XADD", dead, "*", *fields, "dead.error", "the mail server said no", "dead.attempts", "5",
                   "dead.stream", "rental-events", "dead.group", "notifier", "dead.id", newest[0][0])
        admin.open("/app/operations")
        admin.wait_text(dead)
        assert "the mail server said no" in admin.text()
        admin.check_page("dead-letter")
        if docs:
            admin.driver.save_screenshot(os.path.join(DOCS, "operator.png"))
        admin.find("li.dead-letter[data-stream='%s'] form.redrive button" % dead).click()
        admin.wait_text("Re-drove 1 entries from %s" % dead)
        assert redis.call("XLEN", dead) == 0, "the dead-letter stream is empty"
        wait_for(lambda: "No dead letters." in admin.text(), 10, "the page to show no dead letters")
        admin.check_page("redriven")
        admin.open("/app/alerts")
        admin.wait_text("Alert log")
        admin.check_page("alert-log")
        redis.close()
    finally:
        admin.quit()


def scenario_customer_and_courier(system, artifacts, docs):
    """An order followed live from the customer's page while a courier delivers it."""
    api = system.api
    tokens = system.tokens
    status, book, _ = api("POST", "/books", {"title": "Live Wire", "author": "B. Quick", "copies": 2}, tokens["admin"])
    assert status == 201, book
    status, last, _ = api("POST", "/books", {"title": "The Last Copy", "author": "C. Scarce", "copies": 1}, tokens["admin"])
    assert status == 201, last
    alice = Browser("customer", system.gateway_url, artifacts)
    courier = Browser("courier", system.gateway_url, artifacts)
    try:
        alice.sign_in_as("alice")
        alice.open("/app/books?q=Last+Copy")
        assert [e.text for e in alice.all("li.book h2")] == ["The Last Copy"], "search finds the book"
        alice.check_page("search")
        alice.find("li.book a.button").click()
        # Bob takes the last copy while Alice types her address: her order is refused, her address kept.
        status, _, _ = api("POST", "/rentals", {"bookId": last["id"], "address": "Bob's place"}, tokens["bob"])
        assert status == 201
        address = "서울 종로구 사직로 161"
        alice.find("#address").send_keys(address)
        alice.find("form.card button").click()
        alice.wait_text("No copy of book")
        assert alice.find("#address").get_attribute("value") == address, "the form keeps what was typed"
        assert alice.find("[role=alert]").is_displayed()
        alice.check_page("order-refused")

        alice.open("/app/books/%s" % book["id"])
        alice.find("#address").send_keys(address)
        alice.find("form.card button").click()
        alice.wait_text("Ordered: the delivery is being scheduled")
        assert "/app/rentals" in alice.driver.current_url
        try:
            card = wait_for(lambda: alice.all("li.rental[data-delivery='ready']"), 20, "the delivery to be scheduled (live)")[0]
        except AssertionError as error:
            raise AssertionError("%s\n%s" % (error, explain_live(system, alice, None))) from None
        rental_id = card.get_attribute("id").replace("rental-", "")
        cancel_action = alice.find("#rental-%s form.cancel" % rental_id).get_attribute("action")
        alice.check_page("my-rentals")
        alice.check_phone_width("my-rentals")
        alice.driver.execute_script("window.notReloaded = true")

        # Alice's page listens for changes before the courier makes one. When its connection is
        # refused for good (as browsers do after an error answer), the page follows again by itself:
        # the change below then comes over the new connection.
        wait_for(lambda: alice.live_state() == 1, 20, "alice's page to be live (EventSource open)")
        alice.driver.execute_script(
            "window.firstLive = window.bookdelivery.live; window.firstLive.close();"
            "window.firstLive.dispatchEvent(new Event('error'))")
        wait_for(lambda: alice.driver.execute_script(
            "return window.bookdelivery.live !== window.firstLive && window.bookdelivery.live.readyState === 1"),
            20, "alice's page to follow again after its feed was closed")

        courier.sign_in_as("courier-1")
        assert "/app/deliveries" in courier.driver.current_url, "a courier lands on the deliveries"
        delivery = wait_for(lambda: [d for d in courier.all("li.delivery") if address in d.text], 20, "alice's delivery")[0]
        courier.check_page("deliveries")
        if docs:
            courier.driver.save_screenshot(os.path.join(DOCS, "courier.png"))
        delivery.find_element(By.CSS_SELECTOR, "form.start button").click()
        courier.wait_text("Delivery started.")
        courier.check_page("started")

        # Alice's page follows without a reload: started, no cancel button, and why.
        try:
            wait_for(lambda: alice.all("#rental-%s[data-delivery='started']" % rental_id), 20, "the delivery to show as started")
        except AssertionError as error:
            raise AssertionError("%s\n%s" % (error, explain_live(system, alice, rental_id))) from None
        assert alice.driver.execute_script("return window.notReloaded === true"), "the page was not reloaded"
        card = alice.find("#rental-%s" % rental_id)
        assert "started" in card.find_element(By.CSS_SELECTOR, ".delivery-status").text.lower()
        assert not card.find_elements(By.CSS_SELECTOR, "form.cancel"), "no cancel button once the delivery started"
        assert "can no longer be canceled" in card.text, "the page says why"
        alice.check_page("started-live")
        if docs:
            alice.driver.save_screenshot(os.path.join(DOCS, "customer.png"))

        # A cancel from a page that had not heard yet (another tab, offline): refused, with the reason.
        alice.driver.execute_script(
            "const f=document.createElement('form'); f.method='post'; f.action=arguments[0];"
            "const k=document.createElement('input'); k.type='hidden'; k.name='idempotencyKey'; k.value=arguments[1];"
            "f.appendChild(k); document.body.appendChild(f); f.submit();", cancel_action, str(uuid.uuid4()))
        alice.wait_text("it can no longer be canceled")
        problem = alice.find("[role=alert]").text
        assert "delivery has started" in problem, "the refusal carries Rental's reason: %s" % problem
        alice.check_page("cancel-refused")

        # Delivered, then returned.
        courier.open("/app/deliveries")
        delivery = wait_for(lambda: [d for d in courier.all("li.delivery") if address in d.text], 20, "the started delivery")[0]
        delivery.find_element(By.CSS_SELECTOR, "form.complete button").click()
        courier.wait_text("Delivery completed.")
        alice.open("/app/rentals")
        wait_for(lambda: alice.all("#rental-%s form.return" % rental_id), 20, "the return button once delivered (live)")
        alice.find("#rental-%s form.return button" % rental_id).click()
        alice.wait_text("Returned: thank you.")
        wait_for(lambda: alice.all("#rental-%s[data-status='returned']" % rental_id), 20, "the rental to show as returned")
        alice.open("/app/alerts")
        alice.wait_text("My alerts")
        assert alice.all("li.alert"), "alice has alerts"
        alice.check_page("my-alerts")
        alice.check_phone_width("my-alerts")
    finally:
        alice.quit()
        courier.quit()


def scenario_busy(system, artifacts, docs):
    """429 from the gateway's rate limit: the page says "Busy — try again in N s"."""
    strict = system.start_gateway("--rate-limit", "0.05", "--burst", "2")
    bob = Browser("busy", strict, artifacts)
    try:
        bob.open("/")
        assert not bob.all("#demo-heading"), "no demo sign-in without --demo"
        bob.check_page("sign-in")
        bob.find("#token").send_keys("not-a.real.token")
        bob.find("form.card button").click()
        bob.wait_text("That token was not accepted")
        assert bob.find("#token").get_attribute("value") == "", "a refused token is not shown again"
        assert not bob.driver.get_cookies(), "no session for a refused token"
        bob.find("#token").send_keys("x; Domain=example.org")
        bob.find("form.card button").click()
        bob.wait_text("That is not a token")
        bob.find("#token").send_keys(system.tokens["bob"])
        bob.find("form.card button").click()
        wait_for(lambda: "/app/rentals" in bob.driver.current_url, 20, "bob signed in with a pasted token")
        for _ in range(5):
            bob.open("/app/rentals")
            if "Busy" in bob.text():
                break
        bob.wait_text("Busy — try again in")
        seconds = int(bob.find("[data-retry-after]").get_attribute("data-retry-after"))
        assert seconds >= 1, "the wait comes from Retry-After"
        assert "too many requests" in bob.find("[role=alert]").text.lower()
        bob.check_page("busy")
        # Sign-in attempts are limited per address too (10, then one a second): guessing tokens is slow.
        statuses = []
        for _ in range(12):
            status, _, response = System.request(strict + "/app/sign-in", "POST", "token=guess.guess.guess",
                                                 headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": strict})
            statuses.append(status)
            if status == 429:
                assert int(response.getheader("Retry-After")) >= 1
                break
        assert statuses[0] == 401 and statuses[-1] == 429, "refused, then limited: %s" % statuses
    finally:
        bob.quit()


def live_stream(system, identity):
    """A demo identity's `/app/live` stream, read in a thread: returns (lines, connection)."""
    import http.client
    import threading
    connection = http.client.HTTPConnection("127.0.0.1", system.ports["gateway"], timeout=30)
    connection.request("POST", "/app/sign-in", body="identity=%s" % identity,
                       headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": system.gateway_url})
    response = connection.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    assert "HttpOnly" in response.getheader("Set-Cookie")
    stream = http.client.HTTPConnection("127.0.0.1", system.ports["gateway"], timeout=30)
    stream.request("GET", "/app/live", headers={"Cookie": cookie})
    answer = stream.getresponse()
    assert answer.status == 200 and answer.getheader("Content-Type") == "text/event-stream"
    lines = []

    def read():
        # The raw lines (chunk sizes among them): the response's own reader waits to fill a buffer.
        try:
            while True:
                line = answer.fp.readline()
                if not line:
                    return
                lines.append(line.decode().strip())
        except (OSError, ValueError, AttributeError):  # closed by the test
            return
    threading.Thread(target=read, daemon=True).start()
    return lines, stream


def scenario_live_privacy(system, artifacts, docs):
    """A customer's live stream carries only that customer's changes; a courier's carries all."""
    carol, carol_stream = live_stream(system, "alice")
    bob, bob_stream = live_stream(system, "bob")
    courier, courier_stream = live_stream(system, "courier-1")
    try:
        wait_for(lambda: ": live" in carol and ": live" in bob and ": live" in courier, 10, "the streams to open")
        status, book, _ = system.api("POST", "/books", {"title": "Private Matters", "author": "D. Quiet", "copies": 2}, system.tokens["admin"])
        assert status == 201
        status, rental, _ = system.api("POST", "/rentals", {"bookId": book["id"], "address": "4 Hidden Rd"}, system.tokens["alice"])
        assert status == 201
        marker = 'data: {"rentalId":"%s"}' % rental["id"]
        wait_for(lambda: marker in carol, 20, "alice to hear of her rental's change")
        wait_for(lambda: marker in courier, 20, "the courier to hear of it")
        # Bob orders after alice: once he hears of his own rental (the feed keeps its order), he would
        # have heard of hers before it, had it reached him.
        status, own, _ = system.api("POST", "/rentals", {"bookId": book["id"], "address": "5 Open Rd"}, system.tokens["bob"])
        assert status == 201
        wait_for(lambda: 'data: {"rentalId":"%s"}' % own["id"] in bob, 20, "bob to hear of his own rental")
        assert not any(rental["id"] in line for line in bob), "bob never hears of alice's rental"
        assert not any(own["id"] in line for line in carol), "nor alice of bob's"
    finally:
        for stream in (carol_stream, bob_stream, courier_stream):
            # Shut down first: close() alone waits for the reader, blocked until the next heartbeat.
            stream.sock.shutdown(socket.SHUT_RDWR)
            stream.close()


SCENARIOS = [("operator", scenario_operator), ("live-privacy", scenario_live_privacy), ("customer-and-courier", scenario_customer_and_courier), ("busy", scenario_busy)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/debug/bookdelivery")
    parser.add_argument("--artifacts", default=".artifacts/screenshots")
    parser.add_argument("--docs", action="store_true", help="also write the README's screenshots to docs/")
    parser.add_argument("--only", choices=[name for name, _ in SCENARIOS], action="append",
                        help="run only this scenario (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="run the scenarios this many times, each on a fresh system")
    options = parser.parse_args()
    os.makedirs(options.artifacts, exist_ok=True)
    scenarios = [(name, scenario) for name, scenario in SCENARIOS if not options.only or name in options.only]
    failed = 0
    for _ in range(options.repeat):
        failed_before = failed
        system = System(options.binary, "browser")
        try:
            for name, scenario in scenarios:
                start = time.time()
                try:
                    scenario(system, options.artifacts, options.docs)
                    print("ok   %-22s %.1f s" % (name, time.time() - start))
                except Exception:  # noqa: BLE001 - every scenario reports, then the run fails
                    failed += 1
                    print("FAIL %-22s\n%s" % (name, traceback.format_exc()))
        finally:
            system.stop(keep=True if failed > failed_before else None)
        sys.stdout.flush()
    print("%d passed, %d failed; screenshots in %s" % (len(scenarios) * options.repeat - failed, failed, options.artifacts))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
