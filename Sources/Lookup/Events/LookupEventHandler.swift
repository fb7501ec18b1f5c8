import Bus

/// Lookup's consumer of both streams (group `lookup`): every batch of events is applied to the
/// views in one pipelined round trip.
struct LookupEventHandler: Sendable {
    let views: RentalViewStore

    /// What the consumer calls.
    var batchHandler: StreamConsumer.BatchHandler {
        { [views] events in await views.apply(events.map(\.envelope)) }
    }
}
