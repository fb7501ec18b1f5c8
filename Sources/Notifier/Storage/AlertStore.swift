import GRDB
import ServiceKit

/// Notifier's alerts in SQLite. An alert is written in the same transaction as its event id's inbox
/// record, so a redelivered event never makes a second alert.
public struct AlertStore: Sendable {
    public let database: any DatabaseWriter

    public init(database: any DatabaseWriter) {
        self.database = database
    }

    public static func open(path: String, storage: StorageOptions = StorageOptions()) throws -> AlertStore {
        AlertStore(database: try ServiceDatabase.open(at: path, migrator: NotifierDatabase.migrator, durability: storage.durability))
    }

    /// Keeps `alert` inside the consumer's transaction; returns whether it is new (one alert per event id).
    @discardableResult
    func keep(_ alert: Alert, in db: Database) throws -> Bool {
        var alert = alert
        try alert.insert(db, onConflict: .ignore)
        return db.changesCount > 0
    }

    /// Newest first, a page at a time (one more than asked); for `customerId`, its own alerts and
    /// the promotions that are for everyone; with `kind`, only those. A cursor's id is an alert's
    /// (a number: the controller turns away others).
    public func alerts(page: PageRequest, customerId: String? = nil, kind: Alert.Kind? = nil) async throws -> [Alert] {
        let after = page.after.flatMap { cursor in Int64(cursor.id).map { (createdAt: cursor.position, id: $0) } }
        return try await database.read { db in
            var request = Alert.all()
            if let customerId { request = request.filter(Alert.Columns.customerId == customerId || Alert.Columns.customerId == nil) }
            if let kind { request = request.filter(Alert.Columns.kind == kind) }
            if let after { request = request.filter(sql: "(createdAt, id) < (?, ?)", arguments: [after.createdAt, after.id]) }
            return try request.order(Alert.Columns.createdAt.desc, Alert.Columns.id.desc).limit(page.limit + 1).fetchAll(db)
        }
    }
}
