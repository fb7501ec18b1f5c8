import Logging
import ServiceLifecycle

/// Runs services in a `ServiceGroup` in the background, as the real executable does, so that tests
/// exercise the same graceful-shutdown path.
public final class RunningServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public init(_ services: [any Service], logger: Logger = .test("services")) {
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: logger))
        self.group = group
        self.task = Task { try await group.run() }
    }

    /// Graceful shutdown: each service finishes what it is doing and returns.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Cancellation without graceful shutdown: the closest an in-process test gets to `kill -9`.
    public func kill() async {
        task.cancel()
        _ = try? await task.value
    }
}
