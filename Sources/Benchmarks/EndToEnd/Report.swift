import Contracts
import Foundation
import Histogram

/// One run's figures: printed as a table next to their targets, and written as JSON.
struct Report: Encodable {
    var date = ISO8601DateFormatter().string(from: Date())
    var durability: String
    /// The gateway's `--concurrency-limit`.
    var gatewayLimit = "adaptive"
    var cores: Int
    /// Connections kept busy in the saturation phases (and by the bare server's closed loop).
    var saturationConnections: Int
    /// The Swift runtime linked "static" (as in the container image) or "shared".
    var swiftRuntime = ""
    var baselines = BaselineFigures()
    var readyMilliseconds: [String: Double] = [:]
    var readySamples = 1
    var idleMiB: [String: Double] = [:]
    /// Idle PSS and its anonymous part (heap, stacks), MiB: what each process costs beyond the code it shares.
    var idleProportionalMiB: [String: Double] = [:]
    var idleAnonymousMiB: [String: Double] = [:]
    var saturation: [Saturation] = []
    /// The saturation phase through HAProxy in front of Rental, when there is one (``ReferenceProxy``).
    var referenceHop: Saturation?
    var fixedRates: [FixedRate] = []
    var slowFsync: [SlowFsync] = []
    var tracing: TracingCost?
    var overload: [OverloadRun] = []

    func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: url)
    }

    func print() {
        let services = ServiceNames.all + ["gateway"]
        Swift.print(
            "\nbookdelivery end to end: release build (Swift runtime \(swiftRuntime)), \(cores) cores, durability \(durability), gateway limit \(gatewayLimit), \(date)"
        )
        Swift.print("\nlimits of the parts, same machine, same run")
        row("SQLite commits/s, one writer, synchronous=FULL", number(baselines.sqliteCommitsFull))
        row("SQLite commits/s, one writer, synchronous=NORMAL", number(baselines.sqliteCommitsNormal))
        row("redis-benchmark XADD/s (4 connections, pipeline 100)", number(baselines.redisXADD))
        row("bare Hummingbird GET requests/s (\(saturationConnections) connections)", number(baselines.bareHummingbird))
        row("bare Hummingbird CPU s per 1,000 requests", String(format: "%.3f", baselines.bareCPUSecondsPer1000))
        row("bare Hummingbird exec → ready, ms", String(format: "%.0f", baselines.bareReadyMilliseconds))

        printSaturation()
        printFixedRates()
        printOverload()

        if let tracing {
            for run in zip(tracing.off, tracing.on).flatMap({ [$0, $1] }) {
                Swift.print(
                    "\n\(number(run.rate)) orders/s \(run.path), just restarted (open loop, achieved \(number(run.achievedRate))/s)")
                if let latency = run.routes[Workload.orderRoute] { row("  \(Workload.orderRoute)", latencyText(latency)) }
                row(
                    "  CPU seconds per 1,000 orders",
                    services.compactMap { name in run.cpuSecondsPer1000Orders[name].map { "\(name) \(String(format: "%.2f", $0))" } }
                        .joined(separator: ", ") + String(format: "; all %.2f", TracingCost.cpu(run)))
            }
            row(
                "tracing's cost, CPU per order, all processes",
                String(
                    format: "%.2f → %.2f s per 1,000 orders (%+.1f %%, means of %d runs each)  target within 5 %%", tracing.cpuOff,
                    tracing.cpuOn, tracing.increase * 100, tracing.on.count))
        }

        Swift.print("\nprocesses")
        row(
            "exec → ready, ms, median of \(readySamples) starts",
            services.compactMap { name in readyMilliseconds[name].map { "\(name) \(String(format: "%.0f", $0))" } }.joined(separator: ", "))
        let slowest = readyMilliseconds.values.max() ?? 0
        row(
            "  slowest, against the bare server's",
            ratio(slowest, baselines.bareReadyMilliseconds) + "  target <= \(Self.readyTarget)×")
        row(
            "idle RSS, MiB",
            services.compactMap { name in idleMiB[name].map { "\(name) \(String(format: "%.1f", $0))" } }.joined(separator: ", ")
                + "  target <= 30")
        row(
            "idle PSS (anonymous), MiB",
            services.compactMap { name in
                idleProportionalMiB[name].map {
                    "\(name) \(String(format: "%.1f", $0)) (\(String(format: "%.1f", idleAnonymousMiB[name] ?? 0)))"
                }
            }.joined(separator: ", "))

        if !slowFsync.isEmpty {
            Swift.print("\nRental saturated with fsync slowed on purpose (LD_PRELOAD shim)")
            for run in slowFsync {
                row(
                    "fsync +\(run.micros) µs, group commit \(run.groupCommit ? "on" : "off")",
                    "\(number(run.ordersPerSecond)) orders/s  p50 \(ms(run.latency.p50))  p99 \(ms(run.latency.p99))\(failures(run.failures))"
                )
            }
        }
    }

    func row(_ label: String, _ value: String) {
        Swift.print(label.padding(toLength: max(label.count, 54), withPad: " ", startingAt: 0) + "  " + value)
    }

    func latencyText(_ latency: Latency) -> String {
        "p50 \(ms(latency.p50))  p99 \(ms(latency.p99))  p99.9 \(ms(latency.p999))  (\(latency.count))"
    }

    func failures(_ failures: [String: Int]) -> String {
        failures.isEmpty
            ? "" : "  not 2xx: " + failures.sorted(by: { $0.key < $1.key }).map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
    }
}

func number(_ value: Double) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    return formatter.string(from: NSNumber(value: value)) ?? "\(Int(value))"
}

func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }

struct BaselineFigures: Encodable {
    var sqliteCommitsFull = 0.0
    var sqliteCommitsNormal = 0.0
    var redisXADD = 0.0
    var bareHummingbird = 0.0
    /// The bare server's CPU seconds per 1,000 requests at that rate: one HTTP exchange in the
    /// same stack, the floor of what the gateway, which makes two per request, can cost.
    var bareCPUSecondsPer1000 = 0.0
    var bareReadyMilliseconds = 0.0
}

/// Percentiles in milliseconds.
struct Latency: Encodable {
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double
    var count: Int

    init(_ histogram: Histogram<UInt64>?) {
        guard let histogram, histogram.totalCount > 0 else {
            (p50, p99, p999, max, count) = (0, 0, 0, 0, 0)
            return
        }
        p50 = Double(histogram.valueAtPercentile(50)) / 1000
        p99 = Double(histogram.valueAtPercentile(99)) / 1000
        p999 = Double(histogram.valueAtPercentile(99.9)) / 1000
        max = Double(histogram.max) / 1000
        count = Int(histogram.totalCount)
    }

    init?(_ buckets: BucketCounts) {
        guard let p50 = buckets.percentile(50), let p99 = buckets.percentile(99), let p999 = buckets.percentile(99.9) else { return nil }
        (self.p50, self.p99, self.p999, max, count) = (p50, p99, p999, buckets.percentile(100) ?? p999, Int(buckets.total))
    }
}

/// Status → count of the answers that were not 2xx (0: the connection failed), over all routes.
private func notSuccessful(_ results: PhaseResults) -> [String: Int] {
    results.failures.values.reduce(into: [:]) { counts, byStatus in
        for (status, count) in byStatus { counts[String(status), default: 0] += count }
    }
}

/// CPU seconds per 1,000 orders, per process.
private func perThousand(_ cpuSeconds: [String: Double], orders: Int) -> [String: Double] {
    cpuSeconds.mapValues { perThousand($0, orders: orders) }
}

/// CPU seconds per 1,000 orders.
func perThousand(_ cpuSeconds: Double, orders: Int) -> Double { cpuSeconds / Double(Swift.max(orders, 1)) * 1000 }

struct Saturation: Encodable {
    var path: String
    var ordersPerSecond: Double
    var latency: Latency
    var failures: [String: Int]
    var consumersCaughtUpSeconds: Double
    /// Orders taken and fully handled per second: until the consumers had caught up. Straight to
    /// Rental, the closed loop takes orders faster than the consumers can follow on a small box (they
    /// get the CPU only after it), so the rate taken alone flatters it.
    var completedPerSecond: Double
    var cpuSecondsPer1000Orders: [String: Double]
    var box: BoxCPUPerOrder

    init(
        path: String, results: PhaseResults, route: String, consumersCaughtUpSeconds: Double, cpuSeconds: [String: Double], box: BoxCPU
    ) {
        self.path = path
        let orders = results.count(route)
        ordersPerSecond = Double(orders) / seconds(results.elapsed)
        latency = Latency(results.latencies[route])
        failures = notSuccessful(results)
        self.consumersCaughtUpSeconds = consumersCaughtUpSeconds
        completedPerSecond = Double(orders) / (seconds(results.elapsed) + consumersCaughtUpSeconds)
        cpuSecondsPer1000Orders = perThousand(cpuSeconds, orders: orders)
        self.box = BoxCPUPerOrder(box, orders: orders)
    }
}

struct FixedRate: Encodable {
    var rate: Double
    var path: String
    /// Connections to each service (the gateway twice as many).
    var connections: Int
    var achievedRate: Double
    var orders: Int
    var routes: [String: Latency]
    var effects: [String: Latency?]
    var failures: [String: Int]
    var cpuSecondsPer1000Orders: [String: Double]
    var peakMiB: [String: Double]

    init(
        rate: Double, path: String, connections: Int, results: PhaseResults, orders: Int, cpuSeconds: [String: Double],
        peakMiB: [String: Double], ages: [String: BucketCounts]
    ) {
        self.rate = rate
        self.path = path
        self.connections = connections
        self.orders = orders
        achievedRate = Double(orders) / seconds(results.elapsed)
        routes = results.latencies.mapValues { Latency($0) }
        effects = ages.mapValues { Latency($0) }
        failures = notSuccessful(results)
        cpuSecondsPer1000Orders = perThousand(cpuSeconds, orders: orders)
        self.peakMiB = peakMiB
    }
}

struct SlowFsync: Encodable {
    var groupCommit: Bool
    var micros: Int
    var ordersPerSecond: Double
    var latency: Latency
    var failures: [String: Int]

    init(groupCommit: Bool, micros: Int, results: PhaseResults) {
        self.groupCommit = groupCommit
        self.micros = micros
        ordersPerSecond = Double(results.count(Workload.orderRoute)) / seconds(results.elapsed)
        latency = Latency(results.latencies[Workload.orderRoute])
        failures = notSuccessful(results)
    }
}
