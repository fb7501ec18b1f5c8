extension EndToEndBenchmark {
    /// One saturation phase: `saturationConnections` kept busy with `order` for `saturationSeconds`
    /// (closed loop), then the consumers left to catch up; the CPU of every process, Redis and
    /// `alsoCPU`'s (a process outside the system, e.g. the reference hop) and of the whole box over
    /// both. The caller opens the connections.
    func saturationPhase(
        _ path: String, system: SystemUnderTest, generator: LoadGenerator, alsoCPU: @escaping () -> [String: Double] = { [:] },
        order: @escaping @Sendable () -> PlannedRequest
    ) async throws -> Saturation {
        progress("saturation, \(path) …")
        let (cpuBefore, boxBefore) = (cpu(system, redis: true).merging(alsoCPU()) { $1 }, BoxCPU.now())
        let results = try await generator.closedLoop(duration: .seconds(saturationSeconds), concurrency: saturationConnections, make: order)
        let drain = try await system.waitForConsumers()
        return Saturation(
            path: path, results: results, route: Workload.orderRoute, consumersCaughtUpSeconds: drain / .seconds(1),
            cpuSeconds: cpuDelta(cpuBefore, cpu(system, redis: true).merging(alsoCPU()) { $1 }), box: BoxCPU.now() - boxBefore)
    }
}
