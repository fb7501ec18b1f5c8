import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// The last service of a process's group, so the first to hear of a graceful shutdown (the group
/// stops its services in reverse order): it turns the process not-ready and waits the drain period
/// while the HTTP server, the consumers and the relay go on. Then the group stops the server
/// (in-flight requests finish), the consumers (the batch is finished and acknowledged) and the relay
/// (what was committed is published).
public struct DrainGate: Service {
    let readiness: Readiness
    let drain: Duration
    let logger: Logger

    public init(readiness: Readiness, drain: Duration, logger: Logger) {
        self.readiness = readiness
        self.drain = drain
        self.logger = logger
    }

    public func run() async throws {
        try? await gracefulShutdown()
        readiness.startDraining()
        logger.info("draining: not ready; still serving for the drain period", metadata: ["drain": "\(drain)"])
        // Graceful shutdown does not cut a sleep short: the drain is the point.
        try? await Task.sleep(for: drain)
        logger.info("drained: stopping")
    }

    /// Runs `application` with a drain gate in one group that SIGTERM and SIGINT shut down gracefully.
    public static func run(_ application: some ApplicationProtocol, readiness: Readiness, drain: Duration, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                // The trace exporter first, so that it stops last and sends the last spans (``ServiceTracing``).
                services: (ServiceTracing.exporter.withLock { $0 }.map { [.init(service: $0, serviceName: "traces")] } ?? [])
                    + [
                        // Named: "\(application)" would reflect the whole application, router and all.
                        .init(service: application, serviceName: "application"),
                        .init(service: DrainGate(readiness: readiness, drain: drain, logger: logger)),
                    ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        try await group.run()
    }
}

extension DrainGate: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "DrainGate(\(drain))" }
}
