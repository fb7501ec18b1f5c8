import Synchronization
import Tracing

/// Traces through the streams, as OpenTelemetry's messaging conventions draw them:
/// - **create**, at commit: each event written to the outbox gets a `create` span, a child of the
///   change that made it (an HTTP request's span, or the `process` span of the event that caused it);
///   that span's context is stored with the outbox row (``OutboxRecord/traceParent``) and travels
///   as the entry's `traceparent` and `tracestate` fields (W3C Trace Context). Captured at commit,
///   not at publish: the relay publishes later, from another task, in batches.
/// - **send**: the relay's publish of a batch, a span of its own linked to each event's `create`.
/// - **process**: each consumer's handling of an entry, a child of the event's `create`, so that one
///   order's trace reaches every service its events reach; the handlers' own spans (Lookup's view
///   update, Notifier's alert, the next events' `create`) are children of it.
///
/// Attributes: `messaging.system` (`redis`), `messaging.operation.type` and `.name`,
/// `messaging.destination.name` (the stream), `messaging.consumer.group.name`, `messaging.message.id`
/// (the entry id), `messaging.batch.message_count`; and the event's own id and type
/// (`bookdelivery.event.id`, `bookdelivery.event.type`).
///
/// Off (nothing made, nothing injected) until the process bootstraps a tracer and sets
/// ``isEnabled``: a check of one atomic per event instead of a no-op span's work.
public enum MessageTrace {
    private static let enabled = Atomic<Bool>(false)

    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Called once the process has bootstrapped its tracer (`InstrumentationSystem`).
    public static func enable() { enabled.store(true, ordering: .relaxed) }

    /// The `create` span of `event`, ended at once; returns the event carrying its context.
    static func created(_ event: OutgoingEvent) -> OutgoingEvent {
        guard isEnabled, event.envelope.traceParent.isEmpty else { return event }
        let span = startSpan("create \(event.stream)", context: ServiceContext.current ?? .topLevel, ofKind: .producer)
        span.attributes["messaging.system"] = "redis"
        span.attributes["messaging.operation.type"] = "create"
        span.attributes["messaging.operation.name"] = "create"
        span.attributes["messaging.destination.name"] = event.stream
        span.attributes["bookdelivery.event.id"] = event.envelope.id
        span.attributes["bookdelivery.event.type"] = event.envelope.type
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(span.context, into: &carrier, using: FieldInjector())
        span.end()
        var traced = event
        traced.envelope.traceParent = carrier["traceparent"] ?? ""
        traced.envelope.traceState = carrier["tracestate"] ?? ""
        return traced
    }

    /// The context an envelope carries, or nil for none.
    public static func context(of envelope: EventEnvelope) -> ServiceContext? {
        guard isEnabled, !envelope.traceParent.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        let carrier = ["traceparent": envelope.traceParent, "tracestate": envelope.traceState]
        InstrumentationSystem.instrument.extract(carrier, into: &context, using: FieldExtractor())
        return context
    }

    /// A `send` span for a publish of `events`, linked to each one's `create`; nil when off.
    static func startSend(_ events: [(stream: String, envelope: EventEnvelope)]) -> (any Span)? {
        guard isEnabled, !events.isEmpty else { return nil }
        let streams = Set(events.map(\.stream))
        let span = startSpan("send \(streams.count == 1 ? streams.first! : "streams")", context: .topLevel, ofKind: .producer)
        span.attributes["messaging.system"] = "redis"
        span.attributes["messaging.operation.type"] = "send"
        span.attributes["messaging.operation.name"] = "send"
        if streams.count == 1 { span.attributes["messaging.destination.name"] = streams.first! }
        span.attributes["messaging.batch.message_count"] = events.count
        // Links to the events' `create` spans; a batch can hold hundreds, so at most 128.
        for event in events.prefix(128) {
            if let context = context(of: event.envelope) { span.addLink(SpanLink(context: context, attributes: [:])) }
        }
        return span
    }

    /// A `process` span for `event` in `group`, a child of the event's `create`; nil when off.
    static func startProcess(_ envelope: EventEnvelope, stream: String, entryId: String, group: String) -> (any Span)? {
        guard isEnabled else { return nil }
        let span = startSpan("process \(stream)", context: context(of: envelope) ?? .topLevel, ofKind: .consumer)
        span.attributes["messaging.system"] = "redis"
        span.attributes["messaging.operation.type"] = "process"
        span.attributes["messaging.operation.name"] = "process"
        span.attributes["messaging.destination.name"] = stream
        span.attributes["messaging.consumer.group.name"] = group
        span.attributes["messaging.message.id"] = entryId
        span.attributes["bookdelivery.event.id"] = envelope.id
        span.attributes["bookdelivery.event.type"] = envelope.type
        return span
    }
}

/// Writes the propagator's fields into a dictionary.
struct FieldInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

/// Reads the propagator's fields from a dictionary.
struct FieldExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
