import Foundation
import Histogram

extension EndToEndBenchmark {
    /// Multiples of the gateway's saturation rate offered in the overload phase; the first is the
    /// unloaded reference the others' admitted latency is compared with.
    static let overloadMultiples = [0.1, 2, 10]
    /// The unloaded reference runs this many times `--overload-seconds`. Why: the box's disk stalls
    /// now and then (`fdatasync` of 40-95 ms under `strace`, straight to Rental as much as through
    /// the gateway), and about 1,500 orders in 10 s at a tenth of the saturation make a p99 that
    /// one stall decides or not: it read 3.3-62 ms in 22 such runs, over 10 ms in 12. Three times the
    /// orders count the stalls at about their rate (4.6-6.0 ms in 3 of 4 runs, 25.6 in the fourth).
    /// Rejected: the median of three short runs (when half the runs have a stall, half the medians
    /// do too: 2 of 4); the quickest of them (a lucky run, no reference).
    static let referenceLength = 3
    /// The overload the run with the limit fixed at ``floorLimit`` repeats, and that limit: no
    /// limit lets fewer in.
    static let floorMultiple = 2.0
    static let floorLimit = 1

    /// Connections for an open loop at `rate`: enough that an order need not wait for one
    /// (rate × 50 ms: one answer in 50 ms each keeps up), at least `--connections`, at most 512.
    /// Why: with a fixed number, the open loop turns into the load generator's own queue once the
    /// rate outgrows it (8 connections were 1,840 orders/s at 4.3 ms each, and straight to Rental
    /// the orders waited seconds for a connection while Rental answered in 5 ms), so the phase
    /// measured the generator, not the system, and on a faster box sooner.
    func openLoopConnections(_ rate: Double) -> Int { min(512, max(connections, Int((rate * 0.05).rounded(.up)))) }

    /// The gateway offered more than it can take, open loop: a tenth of its saturation rate (the
    /// unloaded reference), then 2× and 10×, each with enough connections that the orders need not
    /// wait for one (``openLoopConnections(_:)``): the orders let in should keep their latency, the
    /// rest should be turned away (503, `Retry-After`) at once. Then 2× again with the gateway's
    /// limit fixed at 1 (``floorLimit``, ``floorMultiple``): one order in Rental at a time, one more waiting for its
    /// slot. No limit lets fewer in, so what the orders taken there wait is the box's part under
    /// that load (the load generator, the 503s' work and the consumers on the same cores), which no
    /// concurrency limit removes: the 2× target's reachable bound, measured in the run rather than
    /// assumed (on 2 cores it was 3.5-4.9× a 10 s unloaded reference's p99, 2.9-3.8× a 30 s one's).
    func overload(saturation: Double, system: SystemUnderTest, generator: LoadGenerator, workload: Workload) async throws -> [OverloadRun] {
        var runs: [OverloadRun] = []
        for multiple in Self.overloadMultiples {
            runs.append(try await overloadRun(multiple, saturation: saturation, system: system, generator: generator, workload: workload))
        }
        progress("restarting the gateway with its limit fixed at \(Self.floorLimit) …")
        await system.stop("gateway")
        try await system.start("gateway", extra: ["--concurrency-limit", "fixed", "--max-concurrent", String(Self.floorLimit)])
        var oneAtATime = workload
        oneAtATime.gatewayPort = system.port("gateway")
        var bound = try await overloadRun(
            Self.floorMultiple, saturation: saturation, system: system, generator: generator, workload: oneAtATime)
        bound.limitFixedAt = Self.floorLimit
        runs.append(bound)
        await system.stop("gateway")
        try await system.start("gateway")
        return runs
    }

    private func overloadRun(
        _ multiple: Double, saturation: Double, system: SystemUnderTest, generator: LoadGenerator, workload: Workload
    ) async throws -> OverloadRun {
        let rate = max(10, saturation * multiple)
        let connections = openLoopConnections(rate)
        let seconds = multiple == Self.overloadMultiples[0] ? Self.referenceLength * overloadSeconds : overloadSeconds
        progress(
            "\(Int(rate)) orders/s through the gateway (\(multiple)× its saturation), \(connections) connections, for \(seconds) s …"
        )
        try await generator.keepOpen(port: workload.gatewayPort, count: connections)
        let taken = { system.requestDurations(service: "rental", method: "POST", route: "/rentals", status: 201) }
        let before = taken()
        let probesBefore = system.metrics("gateway", series: Set(Self.probes))
        let results = try await generator.openLoop(rate: rate, duration: .seconds(seconds)) { _, intended in
            workload.order(direct: false, intended: intended)
        }
        var run = OverloadRun(multiple: multiple, rate: rate, connections: connections, results: results)
        run.insideRental = Latency(taken().since(before))
        let (limit, noLoad) = (#"gateway_concurrency_limit{pool="rental"}"#, #"gateway_no_load_latency_seconds{pool="rental"}"#)
        let gateway = system.metrics("gateway", series: Set([limit, noLoad] + Self.probes))
        (run.rentalLimit, run.rentalNoLoadLatency) = (gateway[limit], gateway[noLoad].map { $0 * 1000 })
        run.rentalProbes = Self.probes.map { Int((gateway[$0] ?? 0) - (probesBefore[$0] ?? 0)) }
        _ = try await system.waitForConsumers()
        return run
    }

    /// The gateway's probes of Rental's no-load latency so far: taken, refused.
    static let probes = ["taken", "refused"].map { #"gateway_limit_probes_total{pool="rental",outcome="\#($0)"}"# }
}

/// One run of the overload phase.
struct OverloadRun: Encodable {
    var multiple: Double
    var rate: Double
    var connections: Int
    /// Answers per second: what the load generator managed to offer and have answered.
    var answeredRate: Double
    /// Orders taken (2xx) per second.
    var admittedRate: Double
    var admitted: Latency
    /// The same orders as Rental's own `http.server.request.duration` saw them (from its buckets):
    /// what of `admitted` is Rental's work and its wait for the CPU, not the gateway's or the
    /// sockets' and the load generator's queues.
    var insideRental: Latency?
    /// At the run's end, the gateway's limit on Rental's pool and the no-load latency (ms) its last
    /// probe measured, which the limit is learnt against.
    var rentalLimit: Double?
    var rentalNoLoadLatency: Double?
    /// The probes of that latency during the run: taken, refused.
    var rentalProbes: [Int] = []
    /// Set on the run whose gateway kept its limit fixed there, whatever the latency.
    var limitFixedAt: Int?
    /// The 503s: load shed or breaker open.
    var shed: Latency
    var statuses: [String: Int]
    /// 503s that carried `Retry-After`.
    var shedWithRetryAfter: Int

    init(multiple: Double, rate: Double, connections: Int, results: PhaseResults) {
        let route = Workload.orderRoute
        (self.multiple, self.rate, self.connections) = (multiple, rate, connections)
        let elapsed = seconds(results.elapsed)
        answeredRate = Double(results.count(route) { _ in true }) / elapsed
        admittedRate = Double(results.count(route)) / elapsed
        admitted = Latency(results.latencies[route])
        shed = Latency(results.shedLatencies[route])
        statuses = (results.statuses[route] ?? [:]).reduce(into: [:]) { $0[String($1.key)] = $1.value }
        shedWithRetryAfter = results.retryAfter[route] ?? 0
    }
}
