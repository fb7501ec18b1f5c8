import GRDB

/// The Bus's own tables, migrated into each service's database next to the service's tables.
public enum BusSchema {
    public static func register(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("bus-v1") { db in
            try db.execute(sql: """
                CREATE TABLE outbox (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    stream TEXT NOT NULL,
                    eventId TEXT NOT NULL,
                    type TEXT NOT NULL,
                    key TEXT NOT NULL,
                    occurredAt TEXT NOT NULL,
                    correlationId TEXT NOT NULL,
                    causationId TEXT NOT NULL,
                    data TEXT NOT NULL,
                    claimedBy TEXT,
                    claimedUntil INTEGER,
                    publishedAt INTEGER,
                    publishedTo TEXT
                );
                CREATE INDEX outbox_unpublished ON outbox(sequence) WHERE publishedAt IS NULL;
                CREATE INDEX outbox_published ON outbox(publishedAt) WHERE publishedAt IS NOT NULL;

                CREATE TABLE inbox (
                    handler TEXT NOT NULL,
                    eventId TEXT NOT NULL,
                    processedAt INTEGER NOT NULL,
                    PRIMARY KEY (handler, eventId)
                ) WITHOUT ROWID;
                CREATE INDEX inbox_processed ON inbox(processedAt);
                """)
        }
    }

    /// A service's migrator: the Bus's tables, then the service's own, created by `sql`.
    public static func migrator(service: String, sql: String) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        register(in: &migrator)
        migrator.registerMigration("\(service)-v1") { db in try db.execute(sql: sql) }
        return migrator
    }

    /// A pool configured the way every service database wants it: WAL (readers never block the
    /// writer), a busy timeout so that several processes can share one file, NORMAL sync.
    public static func openDatabase(at path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }
}
