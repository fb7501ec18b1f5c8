import Bus
import Logging

/// Notifier's consumer of both streams (group `notifier`): logs and keeps an alert per event that
/// concerns customers.
struct AlertEventsHandler: Sendable {
    static let group = "notifier"
    let store: AlertStore
    let logger: Logger

    func handle(_ event: ReceivedEvent) async throws {
        guard let alert = try Alert.from(event.envelope) else { return }
        if try await store.keep(alert, handler: Self.group) {
            logger.info("alert", metadata: [
                "kind": "\(alert.kind.rawValue)", "customer": "\(alert.customerId ?? "all")", "message": "\(alert.message)",
            ])
        }
    }
}
