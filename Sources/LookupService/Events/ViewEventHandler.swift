import Bus

/// Lookup's consumer of both streams (group `lookup`): every batch of events is applied to the
/// views in one pipelined round trip.
struct ViewEventHandler: Sendable {
    let views: RentalViewStore

    func handle(_ events: [ReceivedEvent]) async -> [(any Error)?] {
        await views.apply(events.map(\.envelope))
    }
}
