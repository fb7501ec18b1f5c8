import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ServiceKit
import ServiceLifecycle

/// The gateway's clients to the instances, as a lifecycle service: added to the service group
/// before the parts that use it, it shuts down after them. Forwarded requests go through
/// ``UpstreamConnections``; the health checks through AsyncHTTPClient, never traced.
public struct UpstreamClient: Service {
    let connections: UpstreamConnections
    let probes: HTTPClient

    init(connectionsPerInstance: Int, group: MultiThreadedEventLoopGroup = .singleton) {
        connections = UpstreamConnections(group: group, maximumIdle: connectionsPerInstance)
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(500), read: .seconds(30)), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 2)
        // A refused connection fails the check at once instead of waiting out backoff retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        // With no tracer the default (a no-op tracer) still made a span and its attributes per request.
        configuration.tracing.tracer = nil
        probes = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        connections.shutdown()
        try await probes.shutdown()
    }
}

extension UpstreamClient: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "UpstreamClient" }
}
