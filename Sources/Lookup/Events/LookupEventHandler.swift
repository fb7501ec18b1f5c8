import Bus
import Tracing

/// Lookup's consumer of both streams (group `lookup`): every batch of events is applied to the
/// views in one pipelined round trip.
struct LookupEventHandler: Sendable {
    let views: RentalViewStore

    /// What the consumer calls. With tracing on, each event's view update is a span of its trace,
    /// a child of its `process` span; the batch's round trip is shared, so each span covers it whole.
    var batchHandler: StreamConsumer.BatchHandler {
        { [views] events in
            let spans = events.compactMap { event -> (any Span)? in
                guard let context = event.traceContext, MessageTrace.isSampled(event.envelope) else { return nil }
                let span = startSpan("update view", context: context)
                if span.isRecording {
                    span.attributes["bookdelivery.event.type"] = event.envelope.type
                    span.attributes["db.system.name"] = "redis"
                }
                return span
            }
            let outcomes = await views.apply(events.map(\.envelope))
            for span in spans { span.end() }
            return outcomes
        }
    }
}
