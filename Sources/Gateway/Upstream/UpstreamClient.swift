import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ServiceKit
import ServiceLifecycle
import Tracing

/// The gateway's HTTP client to the instances, as a lifecycle service: added to the service group
/// before the parts that use it, it shuts down after them.
public struct UpstreamClient: Service {
    public let client: HTTPClient
    /// The health checker's client: ``client`` itself, or one without tracing when tracing is on.
    let probes: HTTPClient

    init(connectionsPerInstance: Int) {
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .milliseconds(500), read: .seconds(30)), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerInstance)
        // A refused connection fails the request at once (it goes to the next instance) instead of
        // waiting out backoff retries against a dead instance.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        // A client span per forwarded request, and its `traceparent` header, only when tracing is on:
        // with no tracer bootstrapped, the default (a no-op tracer) still made a span and its
        // attributes for every proxied request, about 4 % of the gateway's CPU at saturation.
        configuration.tracing.tracer = nil
        let untraced = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
        probes = untraced
        guard ServiceTracing.isEnabled else {
            client = untraced
            return
        }
        // The health checks' requests (every second per instance) stay out of the traces.
        configuration.tracing.tracer = InstrumentationSystem.tracer
        client = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
        if probes !== client { try await probes.shutdown() }
    }
}

extension UpstreamClient: CustomStringConvertible {
    /// Short: see ``OutboxRelay``'s description.
    public var description: String { "UpstreamClient" }
}
