import Bus
import ServiceKit

/// Lookup's consumer of both streams (group `lookup`): every event is applied to the views.
struct ViewEventsHandler: Sendable {
    static let group = "lookup"
    let views: RentalViewStore

    func handle(_ event: ReceivedEvent) async throws {
        try await views.apply(event.envelope)
    }
}
