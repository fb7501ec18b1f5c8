#!/usr/bin/env python3
"""The monitoring, checked for real (part of the test command):

1. the alert rules: `promtool check rules` and their unit tests (`promtool test rules`), and the
   Kubernetes PrometheusRule carries the same groups;
2. `bookdelivery up --monitoring` on free ports: Prometheus scrapes every part, and follows `ctl scale`;
3. every metric the dashboard and the rules name is one the processes export (scraped after orders
   went through every service), and every dashboard query runs in that Prometheus without an error;
4. Delivery stopped and orders placed: ConsumerGroupStalled fires for group delivery within 3 minutes
   (Prometheus, Alertmanager and `up`'s own output say so), and resolves once Delivery is back.

    python3 ops/monitoring/monitoring_test.py --binary .build/debug/bookdelivery
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
from demos import Up, a_book, free_port, order, wait_for  # noqa: E402

PROMQL_WORDS = {"by", "on", "without", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expression):
    """The metric names an expression selects (recording rules' names, with a colon, apart)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def exported_names(up, ports):
    names = set()
    for port in ports:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line and not line.startswith("#"):
                    names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


def check_rules():
    subprocess.run(["promtool", "check", "rules", os.path.join(here, "alerts.yml")], check=True)
    subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], check=True, cwd=here)
    venv_python = os.path.join(here, "..", "..", ".venv", "bin", "python")
    subprocess.run([venv_python, os.path.join(here, "make-prometheusrule"), "--check"], check=True)


class Prometheus:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path, **query):
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def targets(self):
        return [(t["labels"]["job"], t["scrapeUrl"], t["health"]) for t in self.get("/api/v1/targets")["data"]["activeTargets"]]

    def alerts(self, name):
        return [a for a in self.get("/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == name]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--docs", action="store_true", help="write the pictures to docs/ (the README's) instead of .artifacts/")
    arguments = parser.parse_args()

    check_rules()
    prometheus_port, alertmanager_port = free_port(), free_port()
    up = Up(arguments.binary, ["--monitoring", "--port", "prometheus=%d" % prometheus_port, "--port",
                               "alertmanager=%d" % alertmanager_port, "--alert-rules", os.path.join(here, "alerts.yml")])
    prometheus = Prometheus(prometheus_port)
    try:
        parts = ["gateway", "rental", "delivery", "lookup", "notifier"]
        wait_for(lambda: sorted(j for j, _, h in prometheus.targets() if h == "up" and j in parts) == sorted(parts), 60,
                 "Prometheus to scrape every part")
        print("Prometheus scrapes: " + ", ".join(sorted(j for j, _, _ in prometheus.targets())))
        up.run("ctl", "scale", "lookup=2")
        wait_for(lambda: len([1 for j, _, h in prometheus.targets() if j == "lookup" and h == "up"]) == 2, 60,
                 "Prometheus to scrape the second lookup")
        print("after `ctl scale lookup=2`, Prometheus scrapes both lookups")
        up.run("ctl", "scale", "lookup=1")

        # Orders through every service, then every name the dashboard and the rules use must be exported.
        book = a_book(up)
        for _ in range(3):
            order(up, book)
        wait_for(lambda: all(re.search(r"^bus_event_age_seconds_count\{group=\"%s\"" % g, scrape(up.ports[g]), re.M)
                             for g in ("delivery", "lookup", "notifier")), 30, "every consumer to handle an event")
        exported = exported_names(up, [up.ports[p] for p in parts])
        dashboard = json.load(open(os.path.join(here, "dashboard.json")))
        queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        rules = [r for g in yaml_groups() for r in g["rules"]]
        recorded = {r["record"] for r in rules if "record" in r}
        expressions = queries + [r["expr"] for r in rules]
        named = set().union(*(metric_names(e) for e in expressions))
        missing = sorted(n for n in named - recorded - {"up"} if n not in exported)
        assert not missing, "named by the dashboard or the rules, exported by no process: %s" % missing
        print("the dashboard's %d queries and the %d rules name %d metrics, each exported" % (len(queries), len(rules), len(named)))
        wait_for(lambda: prometheus.get("/api/v1/query", query="bus_group_finished_entries")["data"]["result"], 30,
                 "Prometheus to have the groups' lag")
        for query in queries:
            answer = prometheus.get("/api/v1/query", query=query)
            assert answer["status"] == "success", (query, answer)
        print("every dashboard query runs in Prometheus")

        # Delivery away: its group stalls, and the alert says so within 3 minutes.
        up.run("ctl", "stop", "delivery")
        stopped = time.monotonic()
        for _ in range(5):
            order(up, book)

        def stalled():
            return [a for a in prometheus.alerts("ConsumerGroupStalled") if a["state"] == "firing" and a["labels"]["group"] == "delivery"]
        wait_for(stalled, 240, "ConsumerGroupStalled for delivery to fire")
        took = time.monotonic() - stopped
        print("ConsumerGroupStalled fired for group delivery %.0f s after Delivery stopped: %s" % (took, stalled()[0]["annotations"]["summary"]))
        assert took <= 180, "the rule promises 3 minutes"

        def in_alertmanager():
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v2/alerts" % alertmanager_port, timeout=10) as response:
                return [a for a in json.loads(response.read()) if a["labels"].get("alertname") == "ConsumerGroupStalled"]
        wait_for(in_alertmanager, 60, "Alertmanager to have the alert")
        wait_for(lambda: "alert firing: ConsumerGroupStalled" in up.text(), 30, "up to print the alert")
        screenshots(prometheus_port, os.path.join(here, "..", "..", "docs" if arguments.docs else ".artifacts/screenshots"))
        print("Alertmanager has it, and up printed: " + re.search(r"alert firing: ConsumerGroupStalled.*", up.text()).group(0))

        up.run("ctl", "start", "delivery")
        wait_for(lambda: not prometheus.alerts("ConsumerGroupStalled"), 180, "ConsumerGroupStalled to resolve")
        wait_for(lambda: "alert resolved: ConsumerGroupStalled" in up.text(), 60, "up to print that it resolved")
        print("Delivery back: the alert resolved, and up printed so")
    finally:
        up.stop()
    print("monitoring: ok")


def screenshots(port, folder):
    """The README's pictures, from Prometheus's own pages (Grafana cannot be installed here): the
    groups' lag in seconds as the alert fires, and the alerts firing (the `ALERTS` series); in
    .artifacts/screenshots, or docs/ with --docs. Only where selenium is (the test command runs
    this with .venv-web's Python)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        print("no selenium here: no screenshots")
        return
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000", "--disable-gpu"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    os.makedirs(folder, exist_ok=True)
    try:
        query = "max by (stream, group) (bus_group_oldest_unfinished_age_seconds)"
        driver.get("http://127.0.0.1:%d/graph?%s" % (port, urllib.parse.urlencode(
            {"g0.expr": query, "g0.tab": "0", "g0.range_input": "5m", "g0.stacked": "0"})))
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".rickshaw_legend li"), 30, "the graph's legend")
        driver.save_screenshot(os.path.join(folder, "monitoring-lag.png"))
        driver.get("http://127.0.0.1:%d/graph?%s" % (port, urllib.parse.urlencode(
            {"g0.expr": 'ALERTS{alertstate="firing"}', "g0.tab": "1"})))
        wait_for(lambda: "ConsumerGroupStalled" in driver.find_element(By.TAG_NAME, "body").text, 30, "the firing alerts")
        driver.save_screenshot(os.path.join(folder, "monitoring-alerts.png"))
        print("screenshots: monitoring-lag.png, monitoring-alerts.png in " + os.path.normpath(folder))
    finally:
        driver.quit()


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
        return response.read().decode()


def yaml_groups():
    """The rule groups, read with promtool's help-free way: the venv's PyYAML."""
    venv_python = os.path.join(here, "..", "..", ".venv", "bin", "python")
    text = subprocess.run([venv_python, "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))['groups']))",
                           os.path.join(here, "alerts.yml")], check=True, capture_output=True, text=True).stdout
    return json.loads(text)


if __name__ == "__main__":
    main()
