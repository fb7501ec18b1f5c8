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

    /// The `create` span of `event`, ended at once; returns the event carrying its context. In a
    /// trace that is not sampled no span is made: the event carries the current context as it is
    /// (flags `00`), which is all its consumers need to know, at a tenth of the cost.
    static func created(_ event: OutgoingEvent) -> OutgoingEvent {
        guard isEnabled, event.envelope.traceParent.isEmpty else { return event }
        var traced = event
        if let current = ServiceContext.current {
            InstrumentationSystem.instrument.inject(current, into: &traced.envelope, using: EnvelopeTraceFields())
        }
        if !traced.envelope.traceParent.isEmpty, !isSampled(traced.envelope.traceParent) { return traced }
        let span = startSpan("create \(event.stream)", context: ServiceContext.current ?? .topLevel, ofKind: .producer)
        if span.isRecording {
            span.attributes = attributes("create", stream: event.stream, envelope: event.envelope)
        }
        traced = event
        InstrumentationSystem.instrument.inject(span.context, into: &traced.envelope, using: EnvelopeTraceFields())
        span.end()
        return traced
    }

    /// Whether a `traceparent` says its trace is sampled (the last bit of its flags).
    public static func isSampled(_ traceParent: String) -> Bool {
        (traceParent.last?.hexDigitValue ?? 0) & 1 == 1
    }

    /// Whether `envelope` belongs to a sampled trace: a handler makes spans of its own only then.
    public static func isSampled(_ envelope: EventEnvelope) -> Bool {
        isEnabled && isSampled(envelope.traceParent)
    }

    /// `body` in a span named `name`, a child of the current context, when `envelope`'s trace is
    /// sampled; `body` alone otherwise.
    public static func withSpan<T>(_ name: String, for envelope: EventEnvelope, _ body: () throws -> T) rethrows -> T {
        guard isSampled(envelope) else { return try body() }
        return try Tracing.withSpan(name) { _ in try body() }
    }

    /// The context an envelope carries, or nil for none.
    public static func context(of envelope: EventEnvelope) -> ServiceContext? {
        guard isEnabled, !envelope.traceParent.isEmpty else { return nil }
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(envelope, into: &context, using: EnvelopeTraceFields())
        return context
    }

    /// A `send` span for a publish of `events`, linked to each sampled one's `create`; nil when off,
    /// and when no event's trace is sampled: its only use is to lead to those `create` spans, and
    /// one for a batch of unsampled events was a root of its own, sampled at the ratio, with
    /// nothing to lead to (and it cost the relay a span per batch: one per order at low rates).
    static func startSend(_ events: [(stream: String, envelope: EventEnvelope)]) -> (any Span)? {
        guard isEnabled, events.contains(where: { isSampled($0.envelope.traceParent) }) else { return nil }
        let streams = Set(events.map(\.stream))
        let span = startSpan("send \(streams.count == 1 ? streams.first! : "streams")", context: .topLevel, ofKind: .producer)
        guard span.isRecording else { return span }
        span.attributes = attributes("send", stream: streams.count == 1 ? streams.first : nil)
        span.attributes["messaging.batch.message_count"] = events.count
        // Links to the events' `create` spans; a batch can hold hundreds, so at most 128.
        for event in events.lazy.filter({ isSampled($0.envelope.traceParent) }).prefix(128) {
            if let context = context(of: event.envelope) { span.addLink(SpanLink(context: context, attributes: [:])) }
        }
        return span
    }

    /// A `process` span for `event` in `group`, a child of the event's `create`, and the context its
    /// handler runs in: the span's; for an event of a trace that is not sampled, no span and the
    /// event's own context (so that what it leads to carries it on); nil and nil when off.
    static func startProcess(_ envelope: EventEnvelope, stream: String, entryId: String, group: String)
        -> (span: (any Span)?, context: ServiceContext?)
    {
        guard isEnabled, let parent = context(of: envelope) else { return (nil, nil) }
        guard isSampled(envelope.traceParent) else { return (nil, parent) }
        let span = startSpan("process \(stream)", context: parent, ofKind: .consumer)
        guard span.isRecording else { return (span, span.context) }
        span.attributes = attributes("process", stream: stream, envelope: envelope)
        span.attributes["messaging.consumer.group.name"] = group
        span.attributes["messaging.message.id"] = entryId
        return (span, span.context)
    }
}

extension MessageTrace {
    /// The conventions' attributes of an `operation` on `stream`, and the event's id and type. Set
    /// only on a recording span: a trace that is not sampled (90 % at a ratio of 0.1) still makes
    /// its spans, to carry the context, but they need nothing more.
    fileprivate static func attributes(_ operation: String, stream: String?, envelope: EventEnvelope? = nil) -> SpanAttributes {
        var attributes: SpanAttributes = [:]
        attributes["messaging.system"] = "redis"
        attributes["messaging.operation.type"] = operation
        attributes["messaging.operation.name"] = operation
        if let stream { attributes["messaging.destination.name"] = stream }
        if let envelope {
            attributes["bookdelivery.event.id"] = envelope.id
            attributes["bookdelivery.event.type"] = envelope.type
        }
        return attributes
    }
}

/// The propagator's fields straight into and out of an envelope's `traceparent` and `tracestate`.
/// A dictionary per event as the carrier, filled and read back, cost every consumed event two
/// hashed inserts and lookups, sampled or not (`perf` of Lookup at a ratio of 0.1: 4 % extracting).
struct EnvelopeTraceFields: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into envelope: inout EventEnvelope) {
        switch key {
        case "traceparent": envelope.traceParent = value
        case "tracestate": envelope.traceState = value
        default: break
        }
    }

    func extract(key: String, from envelope: EventEnvelope) -> String? {
        switch key {
        case "traceparent": envelope.traceParent
        case "tracestate": envelope.traceState
        default: nil
        }
    }
}
