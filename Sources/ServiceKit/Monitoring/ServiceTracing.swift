import Bus
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Traces, exported over OTLP/HTTP (protobuf) by swift-otel, configured the standard way:
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL`
/// (`http/protobuf`, the default, or `http/json`), `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`
/// (default: parent-based, always on), `OTEL_SERVICE_NAME` (default: the part's name).
///
/// Off when no endpoint is set (or `OTEL_SDK_DISABLED=true`): no tracer is bootstrapped, the HTTP
/// routers get no tracing middleware and events carry no trace context, so tracing costs nothing
/// then. On, it also makes every log line written inside a span carry `trace_id` and `span_id`.
///
/// Only the OTLP/HTTP exporter is built in (swift-otel's `OTLPHTTP` trait): gRPC would have brought
/// grpc-swift and its build time, and every collector takes OTLP/HTTP.
public enum ServiceTracing {
    /// The exporter's lifecycle service, once bootstrapped: ``DrainGate/run(_:readiness:drain:logger:)``
    /// runs it first, so that it shuts down last and sends the last spans.
    static let exporter = Mutex<(any Service)?>(nil)
    private static let bootstrapped = Mutex(false)

    /// Bootstraps tracing for the part `name` when the environment asks for it; once per process,
    /// before any logger is made. Throws for a protocol that is not built in.
    public static func bootstrap(service name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        // Once per process: swift-log's and swift-distributed-tracing's bootstraps may run only once.
        guard
            bootstrapped.withLock({ done in
                defer { done = true }
                return !done
            })
        else { return }
        guard environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil,
            environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
        else {
            LoggingSystem.bootstrap { label in ServiceLogHandler(StreamLogHandler.standardOutput(label: label)) }
            return
        }
        let requested = environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? environment["OTEL_EXPORTER_OTLP_PROTOCOL"]
        if let requested, !["http/protobuf", "http/json"].contains(requested) {
            throw TracingSetupError(
                description: "OTEL_EXPORTER_OTLP_PROTOCOL=\(requested): only http/protobuf and http/json are built in (not grpc)")
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = name
        // swift-otel's own log lines (each setting it read from the environment, at info): only
        // its warnings and errors. OTEL_LOG_LEVEL still wins.
        configuration.diagnosticLogLevel = .warning
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        LoggingSystem.bootstrap(
            { label, metadataProvider in ServiceLogHandler(StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider))
            },
            metadataProvider: OTel.makeLoggingMetadataProvider())
        exporter.withLock { $0 = backend.service }
        MessageTrace.enable()
    }

    /// Whether a tracer was bootstrapped.
    public static var isEnabled: Bool { MessageTrace.isEnabled }
}

public struct TracingSetupError: Error, CustomStringConvertible {
    public let description: String
}
