import GRDB
import ServiceKit

/// Notifier's alerts in SQLite. An alert is written in the same transaction as its event id's inbox
/// record, so a redelivered event never makes a second alert.
public struct AlertStore: Sendable {
    public let database: any DatabaseWriter

    public init(database: any DatabaseWriter) {
        self.database = database
    }

    public static func open(path: String) throws -> AlertStore {
        AlertStore(database: try ServiceDatabase.open(at: path, migrator: NotifierDatabase.migrator))
    }

    /// Keeps `alert` inside the consumer's transaction; returns whether it is new (one alert per event id).
    @discardableResult
    func keep(_ alert: Alert, in db: Database) throws -> Bool {
        var alert = alert
        try alert.insert(db, onConflict: .ignore)
        return db.changesCount > 0
    }

    /// Newest first, optionally for one customer (their rental alerts and every promotion) or one kind.
    public func alerts(limit: Int, customerId: String? = nil, kind: Alert.Kind? = nil) async throws -> [Alert] {
        try await database.read { db in
            var request = Alert.all()
            if let customerId { request = request.filter(Alert.Columns.customerId == customerId || Alert.Columns.customerId == nil) }
            if let kind { request = request.filter(Alert.Columns.kind == kind) }
            return try request.order(Alert.Columns.createdAt.desc, Alert.Columns.id.desc).limit(limit).fetchAll(db)
        }
    }
}
