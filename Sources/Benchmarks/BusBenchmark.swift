import ArgumentParser
import Bus
import Foundation
import Histogram
import Logging
import ProcessSupport
import Redis
import ServiceLifecycle
import Synchronization

/// Measures the Bus against plain Redis on the same server in one run:
/// 1. `redis-benchmark` XADD with the same fields, connections and pipelining: the baseline;
/// 2. ``StreamPublisher`` publishing pre-built events from as many connections, one pipelined batch per call;
/// 3. a ``StreamConsumer`` with a no-op handler reading and acknowledging all of them, next to a Lua
///    script doing the same reads and acknowledgements inside Redis (Redis's share of the work alone).
/// On two cores the server, the client and everything else share the CPU, so single runs swing by a
/// third: 1 and 2 alternate `--rounds` times and the medians are compared.
struct BusBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Bus publish and consume+ack rates next to redis-benchmark's XADD rate, on one private redis-server.")

    @Option(help: "Events to publish in each measurement.") var events = 200_000
    @Option(help: "Concurrent connections, for redis-benchmark (-c) and for the Bus alike.") var connections = 4
    @Option(help: "Commands per pipelined batch, for redis-benchmark (-P) and for the Bus alike.") var pipeline = 100
    @Option(help: "Consumer batch size (XREADGROUP COUNT).") var consumeBatch = 500
    @Option(help: "Use this Redis instead of starting a private redis-server (it must be empty).") var redis: String?
    @Option(help: "Rounds of the publish comparison; the medians are compared.") var rounds = 3

    func run() async throws {
        var logger = Logger(label: "benchmark")
        logger.logLevel = .warning
        let server = redis == nil ? try await Baselines.privateRedis(name: "bus-benchmark") : nil
        defer { server.map(Baselines.removeFiles(of:)) }
        let endpoint = try redis.map { try RedisEndpoint(url: $0) } ?? RedisEndpoint(host: "127.0.0.1", port: server?.port ?? 0)
        let perConnection = events / connections
        let total = perConnection * connections

        print("bus-benchmark: \(total) events, \(connections) connections, pipeline \(pipeline), redis \(endpoint)")
        let sample = try EventEnvelope(type: "BenchmarkEvent", key: "rental-00000", payload: ["n": 1, "customer": 42])

        // 1 and 2, alternating: the baseline, then the Bus, `rounds` times.
        let clients = (0..<connections).map { _ in RedisClient(endpoint: endpoint, logger: logger) }
        let batches = (0..<connections).map { connection in
            (0..<perConnection).map { index in
                var envelope = sample
                envelope.id = UUID().uuidString.lowercased()
                envelope.key = "rental-\(connection)-\(index)"
                return OutgoingEvent(stream: "bench:bus", envelope: envelope)
            }
        }
        for client in clients { _ = try await client.command(["PING"]) }  // connect before the clock starts
        let latencies = Shared(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
        var baselines: [Double] = []
        var publishRates: [Double] = []
        for round in 1...max(1, rounds) {
            baselines.append(
                try await Baselines.redisBenchmark(
                    endpoint: endpoint, sample: sample, requests: total, connections: connections, pipeline: pipeline))
            _ = try await clients[0].command(["DEL", "bench:baseline", "bench:bus"])
            publishRates.append(try await publish(batches, clients: clients, latencies: latencies))
            print(String(format: "  round %d: redis-benchmark %.0f/s, Bus %.0f/s", round, baselines.last!, publishRates.last!))
        }
        let baseline = median(baselines)
        let publishRate = median(publishRates)

        // 3. Consume + ack of the last round's events with a no-op handler, each round through a new
        // group, alternating with the same reads and acknowledgements done by Redis alone.
        let consumerClient = RedisClient(endpoint: endpoint, logger: logger)
        _ = try await consumerClient.command(["PING"])
        var consumeRates: [Double] = []
        var redisConsumeRates: [Double] = []
        var pending = 0
        for round in 1...max(1, rounds) {
            let group = "benchmark-\(round)"
            consumeRates.append(try await consume(total, group: group, client: consumerClient, logger: logger))
            pending += try await consumerClient.command(["XPENDING", "bench:bus", group]).array?.first?.int ?? -1
            redisConsumeRates.append(try await Baselines.redisConsumeRate(client: consumerClient, stream: "bench:bus", batch: consumeBatch))
            print(String(format: "  round %d: Redis alone %.0f/s, Bus consumer %.0f/s", round, redisConsumeRates.last!, consumeRates.last!))
        }
        let consumeRate = median(consumeRates)
        let redisConsumeRate = median(redisConsumeRates)

        let histogram = latencies.value
        print("")
        print("publish (XADD, \(connections) connections x pipeline \(pipeline), median of \(baselines.count) rounds)")
        print(String(format: "  redis-benchmark XADD (baseline)  %10.0f events/s", baseline))
        print(
            String(
                format: "  Bus StreamPublisher              %10.0f events/s   %.0f%% of baseline (target >= 90%%)", publishRate,
                publishRate / baseline * 100))
        print(
            "  Bus batch latency                p50 \(histogram.valueAtPercentile(50)) us, p99 \(histogram.valueAtPercentile(99)) us, max \(histogram.max) us"
        )
        print("consume + ack (1 consumer, XREADGROUP COUNT \(consumeBatch), no-op handler, median of \(consumeRates.count) rounds)")
        print(
            String(
                format: "  Redis alone (Lua, in the server) %10.0f events/s   (the same reads and XACKs with no client: a ceiling)",
                redisConsumeRate))
        print(
            String(
                format: "  Bus StreamConsumer               %10.0f events/s   %.0f%% of Redis alone (target >= 80%%)", consumeRate,
                consumeRate / redisConsumeRate * 100))
        print("  pending after the run: \(pending)")
        for client in clients { client.close() }
        consumerClient.close()
    }

    /// Reads and acknowledges `total` entries of `bench:bus` through a new `group` with one
    /// ``StreamConsumer`` and a no-op handler; returns entries per second.
    private func consume(_ total: Int, group: String, client: RedisClient, logger: Logger) async throws -> Double {
        let handled = Shared(0)
        let done = WakeSignal()
        var configuration = StreamConsumer.Configuration(streams: ["bench:bus"], group: group, consumer: "bench-1")
        configuration.batchSize = consumeBatch
        let consumer = StreamConsumer(
            configuration: configuration, client: client, logger: logger,
            handler: { _ in
                if handled.update({
                    $0 += 1
                    return $0
                }) == total {
                    done.wake()
                }
            })
        let start = ContinuousClock.now
        let services = ServiceGroup(configuration: .init(services: [consumer], gracefulShutdownSignals: [], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            while handled.value < total { await done.wait(timeout: .milliseconds(100)) }
            let elapsed = seconds(ContinuousClock.now - start)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return Double(total) / elapsed
        }
    }

    /// Publishes every connection's events, a pipelined batch per call; returns events per second.
    private func publish(_ batches: [[OutgoingEvent]], clients: [RedisClient], latencies: Shared<Histogram<UInt64>>) async throws -> Double
    {
        let total = batches.map(\.count).reduce(0, +)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (client, events) in zip(clients, batches) {
                let pipeline = self.pipeline
                group.addTask {
                    let publisher = StreamPublisher(client: client)
                    for first in stride(from: 0, to: events.count, by: pipeline) {
                        let batchStart = ContinuousClock.now
                        try await publisher.publish(Array(events[first..<min(first + pipeline, events.count)]))
                        let micros = UInt64((ContinuousClock.now - batchStart) / .microseconds(1))
                        latencies.update { _ = $0.record(micros) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let rate = Double(total) / seconds(ContinuousClock.now - start)
        let length = try await clients[0].command(["XLEN", "bench:bus"]).int ?? 0
        guard length == total else { throw ValidationError("published \(length) of \(total) events") }
        return rate
    }
}
