import Bus

/// Routes an envelope to the handler of its type: a table built once, a dictionary lookup per event.
/// Types with no route are skipped (acknowledged): a consumer reads whole streams, not all of which concern it.
public struct EventRoutes: Sendable {
    private var routes: [String: @Sendable (EventEnvelope) async throws -> Void] = [:]

    public init() {}

    public mutating func on<Event: DomainEvent>(_: Event.Type, _ handle: @escaping @Sendable (Event, EventEnvelope) async throws -> Void) {
        routes[Event.type] = { envelope in try await handle(try envelope.payload(as: Event.self), envelope) }
    }

    public func handle(_ event: ReceivedEvent) async throws {
        try await routes[event.envelope.type]?(event.envelope)
    }

    public var types: [String] { routes.keys.sorted() }
}
