"""A primary, its replicas and three Redis Sentinels on loopback, standing where one redis-server
stands in a Cluster: `port`, `client()` and `url` follow whichever node is the primary now."""
import os
import signal
import subprocess
import time

from .processes import RedisServer, free_port, wait_listening
from .resp import Redis, RedisError

MASTER_NAME = "bookdelivery"


class SentinelGroup:
    # 2 s, not 1: when a sentinel switches to a promoted replica it gives the new primary
    # down-after-milliseconds to answer a PING from its reset, but connects to it only once a
    # second has passed since its last attempt (it had been retrying the dead primary every
    # second). At 1000 the new primary was thought down 1.0 s after the switch (in 3 of 24 runs of
    # the failover scenarios here, 2 of 3 in one CI run) and failed over again: two promotions, the
    # first one still taking writes until the second ended. 2000 leaves a second for the PING.
    def __init__(self, workdir, replicas=2, sentinels=3, down_after_ms=2000):
        self.workdir = workdir
        self.nodes = [RedisServer(workdir, "redis-1")]
        primary_port = self.nodes[0].port
        for number in range(2, replicas + 2):
            self.nodes.append(RedisServer(workdir, "redis-%d" % number, ("--replicaof", "127.0.0.1", str(primary_port))))
        self.sentinels = []
        for number in range(1, sentinels + 1):
            port = free_port()
            directory = os.path.join(workdir, "sentinel-%d" % number)
            os.makedirs(directory, exist_ok=True)
            config = os.path.join(directory, "sentinel.conf")
            with open(config, "w") as out:
                out.write("\n".join([
                    "port %d" % port, "bind 127.0.0.1", "daemonize no", "dir %s" % directory,
                    "logfile %s" % os.path.join(directory, "sentinel.log"),
                    "sentinel monitor %s 127.0.0.1 %d 2" % (MASTER_NAME, primary_port),
                    "sentinel down-after-milliseconds %s %d" % (MASTER_NAME, down_after_ms),
                    "sentinel failover-timeout %s 10000" % MASTER_NAME,
                    "sentinel parallel-syncs %s 1" % MASTER_NAME]) + "\n")
            process = subprocess.Popen(["redis-sentinel", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
            if not wait_listening(port):
                raise RuntimeError("redis-sentinel did not start; see %s" % directory)
            self.sentinels.append((port, process))
        self.wait_replicas_online()

    @property
    def service_url(self):
        return "redis-sentinel://%s/%s" % (",".join("127.0.0.1:%d" % port for port, _ in self.sentinels), MASTER_NAME)

    @property
    def url(self):
        """`redis://` to the primary now, for the harness's own tools (redis-cli, `streams`)."""
        return "redis://127.0.0.1:%d" % self.port

    def primary_port(self):
        """The primary the sentinels name now (the first sentinel that answers)."""
        for port, _ in self.sentinels:
            try:
                client = Redis(port, timeout=2.0)
                try:
                    answer = client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                finally:
                    client.close()
                if isinstance(answer, list):
                    return int(answer[1])
            except (OSError, RedisError, ConnectionError):
                continue
        raise ConnectionError("no sentinel answered")

    @property
    def port(self):
        return self.primary_port()

    def node(self, port):
        return next(node for node in self.nodes if node.port == port)

    @property
    def primary(self):
        return self.node(self.primary_port())

    def client(self):
        return Redis(self.primary_port())

    def role(self, node):
        try:
            client = node.client()
            try:
                return client.call("ROLE")[0]
            finally:
                client.close()
        except (OSError, RedisError, ConnectionError, TypeError):
            return None

    def wait_replicas_online(self, timeout=30.0):
        """Until the primary has every running replica connected and caught up."""
        deadline = time.time() + timeout
        wanted = sum(1 for node in self.nodes if node.process and node.process.poll() is None) - 1
        while time.time() < deadline:
            try:
                client = self.client()
                try:
                    if client.call("WAIT", wanted, 100) >= wanted:
                        return
                finally:
                    client.close()
            except (OSError, RedisError, ConnectionError):
                pass
            time.sleep(0.05)
        raise AssertionError("the replicas did not come online within %.0f s" % timeout)

    def wait_promotion(self, old_port, timeout=30.0):
        """Until the sentinels name another primary than `old_port` and it says it is one; returns
        (the new primary's node, when that was first seen)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                port = self.primary_port()
                if port != old_port and self.role(self.node(port)) == "master":
                    return self.node(port), time.time()
            except ConnectionError:
                pass
            time.sleep(0.02)
        raise AssertionError("no replica promoted within %.0f s" % timeout)

    def stop(self):
        for _, process in self.sentinels:
            if process.poll() is None:
                process.kill()
                process.wait()
        for node in self.nodes:  # killed: nothing of theirs is checked after the scenario
            if node.process and node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)
                node.kill9()
