import Contracts
import Foundation
import ProcessSupport

#if canImport(Glibc)
    import Glibc
#endif

extension EndToEndBenchmark {
    /// One fixed-rate phase: an open loop of orders at `rate` (each read back 100 ms after its
    /// answer) for `duration`, with latencies, effects, CPU per order and peak RSS.
    func fixedRate(
        _ rate: Double, viaGateway: Bool, system: SystemUnderTest, generator: LoadGenerator, workload: Workload, label: String? = nil
    )
        async throws -> FixedRate
    {
        let services = ServiceNames.all
        let path = label ?? (viaGateway ? "through the gateway" : "straight to the services")
        let connections = openLoopConnections(rate)
        progress("\(Int(rate)) orders/s \(path), \(connections) connections to each service, for \(duration) s …")
        try await workload.connect(connections)
        let agesBefore = eventAges(system)
        let cpuBefore = cpu(system)
        let peak = Shared([String: Double]())
        let results = try await withThrowingTaskGroup(of: PhaseResults?.self) { tasks in
            tasks.addTask {
                try await generator.openLoop(rate: rate, duration: .seconds(duration)) { _, intended in
                    workload.order(direct: !viaGateway, intended: intended, readAfter: .milliseconds(100))
                }
            }
            tasks.addTask {
                while !Task.isCancelled {
                    for service in services + ["gateway"] {
                        let resident = system.residentMiB(service)
                        peak.update { $0[service] = max($0[service] ?? 0, resident) }
                    }
                    try? await Task.sleep(for: .milliseconds(250))
                }
                return nil
            }
            let results = try await tasks.next()!!
            tasks.cancelAll()
            return results
        }
        _ = try await system.waitForConsumers()
        if let trace { try Self.append(results.trace, phase: "\(Int(rate))/s \(path)", to: trace) }
        let agesAfter = eventAges(system)
        return FixedRate(
            rate: rate, path: path, connections: connections, results: results, orders: results.count(Workload.orderRoute),
            cpuSeconds: cpuDelta(cpuBefore, cpu(system)),
            peakMiB: peak.value, ages: agesAfter.reduce(into: [:]) { $0[$1.key] = $1.value.since(agesBefore[$1.key]!) })
    }

    /// Tracing's cost: every process restarted without tracing, then with it (OTLP/HTTP to a sink
    /// that keeps nothing, `ratio` of the traces sampled where they start), then with it again and
    /// without it again, each time warmed up the same way and measured at `rate` straight to the
    /// services (where the trace starts at Rental's request): the CPU per order of each run.
    /// Straight, not through the gateway: on a small box the gateway saturates below 500 orders/s,
    /// and CPU per order under overload mixes in the queueing. Four runs: one pair of 15-s runs
    /// differs by several per cent with no change at all. Off, on, on, off: the box's speed drifts
    /// during the phase (one run's four measured 3.35, 4.04, 4.05, 4.33 CPU-s per 1,000 orders, its
    /// latencies rising with them), and in this order a steady drift cancels out of the means,
    /// where off, on, off, on counted it against tracing.
    func tracingCost(rate: Double, ratio: Double, system: SystemUnderTest, generator: LoadGenerator, workload: Workload)
        async throws -> TracingCost
    {
        let sinkPort = try TCPPort.free()
        let sink = try ChildProcess(executable: CommandLine.arguments[0], arguments: ["bare-server", "--port", String(sinkPort)])
        defer {
            sink.signal(SIGKILL)
            sink.wait()
        }
        let traced = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(sinkPort)", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": String(ratio),
        ]
        var cost = TracingCost(ratio: ratio)
        for environment in [[:], traced, traced, [:]] {
            let on = !environment.isEmpty
            progress("restarting every process with tracing \(on ? "on (\(Int(ratio * 100)) % sampled)" : "off") …")
            var restarted = workload
            for name in ["gateway"] + ServiceNames.all { await system.stop(name) }
            for name in ServiceNames.all + ["gateway"] { try await system.start(name, environment: environment) }
            (restarted.rentalPort, restarted.lookupPort, restarted.gatewayPort) =
                (system.port("rental"), system.port("lookup"), system.port("gateway"))
            try await restarted.connect(connections)
            let warm = restarted
            _ = try await generator.openLoop(rate: 300, duration: .seconds(2)) { _, intended in warm.order(direct: true, intended: intended)
            }
            _ = try await system.waitForConsumers()
            let run = try await fixedRate(
                rate, viaGateway: false, system: system, generator: generator, workload: restarted,
                label: "straight to the services, tracing \(on ? "\(Int(ratio * 100)) %" : "off")")
            if on { cost.on.append(run) } else { cost.off.append(run) }
        }
        return cost
    }
}

/// The CPU per order with tracing off and on, each run just after a restart (the `tracingCost` phase).
struct TracingCost: Encodable {
    var ratio: Double
    var off: [FixedRate] = []
    var on: [FixedRate] = []

    /// CPU seconds per 1,000 orders, every process together, per run.
    static func cpu(_ run: FixedRate) -> Double { run.cpuSecondsPer1000Orders.values.reduce(0, +) }
    var cpuOff: Double { off.map(Self.cpu).reduce(0, +) / Double(max(off.count, 1)) }
    var cpuOn: Double { on.map(Self.cpu).reduce(0, +) / Double(max(on.count, 1)) }
    /// (on − off) / off, of the means.
    var increase: Double { cpuOff > 0 ? (cpuOn - cpuOff) / cpuOff : 0 }
}
