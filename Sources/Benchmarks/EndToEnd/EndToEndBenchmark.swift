import ArgumentParser
import Bus
import Contracts
import Foundation
import Histogram
import Identity
import NIOCore
import NIOHTTP1
import NIOPosix
import Primitives
import ProcessSupport
import Redis

#if canImport(Glibc)
    import Glibc
#endif

/// `benchmark e2e`: the whole system as customers use it, and the limits of its parts, in one run.
struct EndToEndBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Orders and reads against real processes: saturation, latencies at fixed rates, order → effect times, CPU, memory.",
        discussion: """
            Starts a private redis-server, the four services and the gateway (the release build), and measures:
            the saturation rate of orders straight to Rental and through the gateway (closed loop), taken and done (until \
            the consumers caught up); at each --rate (default a quarter and half of the straight saturation done), \
            straight and through the gateway, an open loop of orders (and a read of each rental's view 100 ms later) with \
            HTTP latency percentiles, order → delivery scheduled / visible in Lookup / alert from the consumers' \
            bus_event_age_seconds histograms, CPU seconds per 1,000 orders and RSS per process; the gateway offered 0.1×, \
            2× and 10× its saturation rate (the orders taken and the 503s, apart); exec → ready per process; and, in the \
            same run, SQLite's commit rate, redis-benchmark's XADD rate and a bare Hummingbird route's request rate and \
            start. Every target is a ratio to a limit measured in the same run. With --fsync-shim, Rental's saturation \
            rate with fsync made slow, with and without group commit.
            """)

    @Option(
        name: .customLong("rate"),
        help: "Fixed order rates to measure, orders/s (repeatable; default a quarter and half of the straight-to-Rental saturation rate).")
    var rates: [Double] = []
    @Option(help: "Seconds of each fixed-rate phase.") var duration = 15
    @Option(help: "Seconds of each overload phase (0 skips them; the unloaded reference runs 3 times as long).") var overloadSeconds = 10
    @Option(help: "Seconds of each saturation phase.") var saturationSeconds = 10
    @Option(
        help:
            "Keep-alive connections to each service for the fixed-rate phases, at least: each gets as many as its rate needs (rate × 50 ms, at most 512); the gateway, which carries both routes, twice as many."
    )
    var connections = 8
    @Option(help: "Connections kept busy in the saturation phases.") var saturationConnections = 64
    @Option(help: "The services' --durability: full or normal.") var durability = "full"
    @Option(help: "The gateway's --concurrency-limit: adaptive, or fixed at its --max-concurrent (64) for comparison.")
    var gatewayLimit = "adaptive"
    @Option(help: "An LD_PRELOAD library that makes fsync slow, for the group-commit comparison.") var fsyncShim: String?
    @Option(help: "Microseconds the shim adds to each fsync/fdatasync.") var slowFsyncMicros = 1000
    @Option(help: "The bookdelivery executable (default: beside this one).") var executable: String?
    @Option(help: "Starts per process for exec → ready (the median is reported).") var readySamples = 5
    @Option(help: "Where to write the JSON report.") var json = ".benchmarks/e2e.json"
    @Option(
        help: ArgumentHelp(
            "Where to write every fixed-rate answer as CSV: phase, route, intended ms, latency ms, status.",
            discussion: "Intended times count from each phase's start: slow answers that come in clusters, or at a period, show it."))
    var trace: String?
    @Option(
        help: ArgumentHelp(
            "The sampling ratio of the tracing-cost phase (0: skip it).",
            discussion:
                "Every process restarted without tracing, with it, with it again and without it again (a steady drift of the box cancels out), each at the first --rate straight to the services."
        ))
    var tracingRatio = 0.1
    @Option(
        help: ArgumentHelp(
            "The haproxy to measure the saturation phase through, in front of Rental (none: skip it; default: haproxy on PATH, if any).",
            discussion: "The reference hop: a proxy that only forwards, so the gateway's gap to straight splits into any hop's and its own."
        ))
    var referenceProxy: String?
    @Flag(help: "Keep the work directory (the processes' logs and databases, ~0.5 GB) after a run that succeeded.")
    var keep = false

    func run() async throws {
        guard readySamples >= 1 else { throw ValidationError("--ready-samples must be 1 or more") }
        guard ["adaptive", "fixed"].contains(gatewayLimit) else { throw ValidationError("--gateway-limit must be adaptive or fixed") }
        let executable =
            self.executable
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("bookdelivery").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ValidationError("no bookdelivery executable at \(executable); pass --executable")
        }
        let haproxy = try ReferenceProxy.executable(referenceProxy)
        var report = Report(
            durability: durability, cores: ProcessInfo.processInfo.activeProcessorCount, saturationConnections: saturationConnections)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let generator = LoadGenerator(loop: group.next(), tracing: trace != nil)
        if let trace {
            guard FileManager.default.createFile(atPath: trace, contents: Data("phase,route,intended_ms,latency_ms,status\n".utf8)) else {
                throw ValidationError("cannot write --trace file \(trace)")
            }
        }

        // The limits, on this machine, now.
        progress("baselines …")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bookdelivery-baseline-\(UUIDv7.string().suffix(12))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        report.baselines.sqliteCommitsFull = try Baselines.sqliteCommitRate(directory: scratch, durability: .full)
        report.baselines.sqliteCommitsNormal = try Baselines.sqliteCommitRate(directory: scratch, durability: .normal)
        try? FileManager.default.removeItem(at: scratch)
        var bareReady = Duration.zero
        (report.baselines.bareHummingbird, report.baselines.bareCPUSecondsPer1000) = try await bareServerRate(
            generator: generator, readyAfter: &bareReady)
        report.baselines.bareReadyMilliseconds = bareReady / .milliseconds(1)

        progress("starting the system (\(durability) durability) …")
        let system = try await SystemUnderTest(executable: executable, durability: durability, gatewayLimit: gatewayLimit)
        report.gatewayLimit = gatewayLimit
        do {
            try await measure(system: system, generator: generator, haproxy: haproxy, report: &report)
        } catch {
            await system.stopAll()
            progress("logs and databases kept in \(system.directory.path)")
            throw error
        }
        await system.stopAll()
        if keep { progress("logs and databases kept in \(system.directory.path)") } else { system.removeFiles() }
        await generator.close()
        try? await group.shutdownGracefully()
        report.print()
        try report.write(to: json)
        print("\nJSON: \(json)")
    }

    private func measure(system: SystemUnderTest, generator: LoadGenerator, haproxy: String?, report: inout Report) async throws {
        let services = ServiceNames.all
        for service in services + ["gateway"] {
            let process = try await system.start(service)
            report.readyMilliseconds[service] = process.readyAfter / .milliseconds(1)
        }
        // One start says little on a shared box (35–65 ms for the same process): the median of
        // `readySamples` starts, each with a database of its own, stopped once ready.
        for service in services + ["gateway"] {
            var samples = [report.readyMilliseconds[service]!]
            for probe in 1..<readySamples {
                let name = "\(service)-start-\(probe)"
                samples.append(try await system.start(service, as: name).readyAfter / .milliseconds(1))
                await system.stop(name)
            }
            report.readyMilliseconds[service] = samples.sorted()[samples.count / 2]
        }
        report.readySamples = readySamples
        report.baselines.redisXADD = try await Baselines.redisBenchmark(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: system.redis.port),
            sample: try EventEnvelope(type: "RentalOrdered", key: UUIDv7.string(), payload: ["rentalId": UUIDv7.string()]),
            requests: 200_000, connections: 4, pipeline: 100)
        _ = try await system.redisClient.command(["DEL", "bench:baseline"])
        try await Task.sleep(for: .seconds(1))  // let start-up settle before reading idle memory
        report.swiftRuntime = system.swiftRuntimeLinkage("rental")
        for service in services + ["gateway"] {
            report.idleMiB[service] = system.residentMiB(service)
            let proportional = system.proportionalMiB(service)
            report.idleProportionalMiB[service] = proportional.pss
            report.idleAnonymousMiB[service] = proportional.anonymous
        }

        let workload = try await Workload.prepare(system: system, generator: generator, connections: connections)
        progress("warming up …")
        try await workload.connect(connections)
        _ = try await generator.openLoop(rate: 300, duration: .seconds(2)) { _, intended in workload.order(direct: true, intended: intended)
        }
        _ = try await system.waitForConsumers()

        for viaGateway in [false, true] {
            try await workload.connect(saturationConnections)
            report.saturation.append(
                try await saturationPhase(
                    viaGateway ? "through the gateway" : "straight to Rental", system: system, generator: generator
                ) { workload.order(direct: !viaGateway, intended: .now()) })
        }

        // Rates as fractions of what this box does straight to Rental, so that runs on different
        // boxes compare; each straight to the services, then through the gateway.
        let direct = report.saturation[0].completedPerSecond
        let rates = self.rates.isEmpty ? [0.25, 0.5].map { ($0 * direct / 10).rounded() * 10 } : self.rates
        for rate in rates {
            for viaGateway in [false, true] {
                report.fixedRates.append(
                    try await fixedRate(rate, viaGateway: viaGateway, system: system, generator: generator, workload: workload))
            }
        }
        if overloadSeconds > 0 {
            report.overload = try await overload(
                saturation: report.saturation[1].completedPerSecond, system: system, generator: generator, workload: workload)
        }
        // After the fixed rates and the overload: Rental came out of this phase with 3.5 MiB more
        // resident (measured), which the fixed-rate phases' peak RSS would have counted.
        if let haproxy {
            report.referenceHop = try await referenceSaturation(
                executable: haproxy, system: system, generator: generator, workload: workload)
        } else {
            progress("no haproxy: the reference hop's saturation phase is skipped (scripts/setup --benchmark installs it)")
        }

        if tracingRatio > 0 {
            report.tracing = try await tracingCost(
                rate: rates[0], ratio: tracingRatio, system: system, generator: generator, workload: workload)
        }

        if let fsyncShim {
            for groupCommit in [false, true] {
                progress("saturation with fsync slowed by \(slowFsyncMicros) µs, group commit \(groupCommit ? "on" : "off") …")
                await system.stop("gateway")
                await system.stop("rental")
                try await system.start(
                    "rental", extra: groupCommit ? [] : ["--no-group-commit"],
                    environment: ["LD_PRELOAD": fsyncShim, "SLOW_FSYNC_US": String(slowFsyncMicros)])
                var restarted = workload
                restarted.rentalPort = system.port("rental")
                try await generator.connect(port: restarted.rentalPort, count: saturationConnections)
                let slow = restarted
                let results = try await generator.closedLoop(duration: .seconds(5), concurrency: saturationConnections) {
                    slow.order(direct: true, intended: .now())
                }
                report.slowFsync.append(SlowFsync(groupCommit: groupCommit, micros: slowFsyncMicros, results: results))
            }
        }
    }

    // MARK: Parts

    static func append(_ answers: [TracedAnswer], phase: String, to path: String) throws {
        var csv = ""
        for answer in answers {
            let intended = String(format: "%.3f", Double(answer.intendedMicros) / 1000)
            let latency = String(format: "%.3f", Double(answer.latencyMicros) / 1000)
            csv += "\(phase),\(answer.route),\(intended),\(latency),\(answer.status)\n"
        }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        try file.seekToEnd()
        try file.write(contentsOf: Data(csv.utf8))
    }

    /// The bare server's requests per second with the saturation phases' connections, and its CPU
    /// seconds per 1,000 of them. And how long it took from exec to its first 200 from `/ready`, the
    /// floor for the services' starts.
    private func bareServerRate(generator: LoadGenerator, readyAfter: inout Duration) async throws -> (
        perSecond: Double, cpuPer1000: Double
    ) {
        let port = try TCPPort.free()
        let child = try ChildProcess(executable: CommandLine.arguments[0], arguments: ["bare-server", "--port", String(port)])
        defer {
            child.signal(SIGKILL)
            child.wait()
        }
        let started = ContinuousClock.now
        let deadline = started + .seconds(10)
        while PlainHTTP.get(port: port, path: "/ready")?.status != 200 {
            guard ContinuousClock.now < deadline else { throw BenchmarkError("the bare server did not start") }
            usleep(1000)
        }
        readyAfter = ContinuousClock.now - started
        try await generator.connect(port: port, count: saturationConnections)
        let cpuBefore = SystemUnderTest.cpuSeconds(pid: child.pid)
        let results = try await generator.closedLoop(duration: .seconds(5), concurrency: saturationConnections) {
            PlannedRequest(route: "GET /hello", port: port, method: .GET, path: "/hello", headers: [:], intended: .now())
        }
        let requests = Double(results.count("GET /hello"))
        let cpu = SystemUnderTest.cpuSeconds(pid: child.pid) - cpuBefore
        return (requests / seconds(results.elapsed), requests > 0 ? cpu / requests * 1000 : 0)
    }

    /// Each process's CPU seconds so far; with `redis`, the redis-server's too (the saturation
    /// phases' split of the box's CPU, ``BoxCPU``; the other phases' sums are the services' alone).
    func cpu(_ system: SystemUnderTest, redis: Bool = false) -> [String: Double] {
        var seconds = Dictionary(uniqueKeysWithValues: system.processes.keys.map { ($0, system.cpuSeconds($0)) })
        if redis { seconds["redis"] = SystemUnderTest.cpuSeconds(pid: system.redis.process.pid) }
        return seconds
    }

    func cpuDelta(_ before: [String: Double], _ after: [String: Double]) -> [String: Double] {
        after.reduce(into: [:]) { $0[$1.key] = $1.value - (before[$1.key] ?? 0) }
    }

    /// Order → delivery scheduled, → visible in Lookup, → alert: the age of `RentalOrdered` when
    /// each group had applied it.
    func eventAges(_ system: SystemUnderTest) -> [String: BucketCounts] {
        [
            "order → delivery scheduled": system.eventAges(service: "delivery", group: "delivery", type: "RentalOrdered"),
            "order → visible in Lookup": system.eventAges(service: "lookup", group: "lookup", type: "RentalOrdered"),
            "order → alert": system.eventAges(service: "notifier", group: "notifier", type: "RentalOrdered"),
        ]
    }
}
