import Bus
import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// Opens a service's SQLite file the way every service wants it, and migrates it.
public enum ServiceDatabase {
    /// A migrator that starts with the Bus's tables (outbox, inbox) and the idempotency keys; the
    /// service registers its own migrations after them, in order, and never edits one that has shipped.
    public static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        BusSchema.registerMigrations(in: &migrator)
        IdempotentWrites.registerMigrations(in: &migrator)
        return migrator
    }

    /// A pool in WAL mode (readers never block the writer), with a busy timeout so that several
    /// processes can share one file, and `durability`'s sync mode. The timeout (2 s) covers any real contention
    /// between this project's short transactions, and stays below the consumers' claim threshold
    /// (3 s): a consumer waiting on a locked file pauses before others take its entries for abandoned.
    public static func open(
        at path: String, migrator: DatabaseMigrator, durability: StorageOptions.Durability = .full
    ) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(2)
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        // Two processes starting at once on a new file would both see "nothing migrated yet" and
        // both create the tables: the migration runs under an exclusive lock on a file beside it.
        let lock = Glibc.open(path + ".migrating", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "cannot open \(path).migrating") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        let pool = try DatabasePool(path: path, configuration: configuration)
        // The one connection that writes: GRDB turns WAL on after `prepareDatabase` and sets it to
        // NORMAL as it does (DatabasePool's setUpWALMode), so the readers' setting above never reached it.
        // It stays NORMAL while migrating: a new file's migrations are a dozen transactions, and a
        // power cut before the first durable commit only means they run again at the next start (the
        // first durable commit syncs the write-ahead log up to and including them).
        try migrator.migrate(pool)
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        return pool
    }
}
