import Bus
import GRDB
import Logging

/// Notifier's alerts in SQLite. An alert is written in the same transaction as its event id's inbox
/// record, so a redelivered event never makes a second alert.
public struct AlertStore: Sendable {
    public let database: any DatabaseWriter

    public init(database: any DatabaseWriter) {
        self.database = database
    }

    static var migrator: DatabaseMigrator {
        BusSchema.migrator(service: "notifier", sql: """
            CREATE TABLE alerts (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                eventId TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                customerId TEXT,
                rentalId TEXT,
                message TEXT NOT NULL,
                createdAt TEXT NOT NULL
            );
            CREATE INDEX alerts_customer ON alerts(customerId, id);
            """)
    }

    public static func open(path: String) throws -> AlertStore {
        AlertStore(database: try BusSchema.openDatabase(at: path, migrator: migrator))
    }

    public static func inMemory() throws -> AlertStore {
        let queue = try DatabaseQueue()
        try migrator.migrate(queue)
        return AlertStore(database: queue)
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
            if let customerId { request = request.filter(Column("customerId") == customerId || Column("customerId") == nil) }
            if let kind { request = request.filter(Column("kind") == kind) }
            return try request.order(Column("createdAt").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }
}
