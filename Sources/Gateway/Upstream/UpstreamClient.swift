import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The gateway's HTTP client to the instances, as a lifecycle service: added to the service group
/// before the parts that use it, it shuts down after them.
public struct UpstreamClient: Service {
    public let client: HTTPClient

    init(connectionsPerInstance: Int) {
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(500), read: .seconds(30)), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerInstance)
        // A refused connection fails the request at once (it goes to the next instance) instead of
        // waiting out backoff retries against a dead instance.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        // No tracer is bootstrapped, and the default (a no-op tracer) still made a span and its
        // attributes for every proxied request: about 4 % of the gateway's CPU at saturation.
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

extension UpstreamClient: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "UpstreamClient" }
}
