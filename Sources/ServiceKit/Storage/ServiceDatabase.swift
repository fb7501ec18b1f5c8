import Bus
import GRDB

/// Opens a service's SQLite file the way every service wants it, and migrates it.
public enum ServiceDatabase {
    /// A migrator that starts with the Bus's tables (outbox, inbox); the service registers its own
    /// migrations after them, in order, and never edits one that has shipped.
    public static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        BusSchema.registerMigrations(in: &migrator)
        return migrator
    }

    /// A pool in WAL mode (readers never block the writer), with a busy timeout so that several
    /// processes can share one file, and NORMAL sync.
    public static func open(at path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
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
