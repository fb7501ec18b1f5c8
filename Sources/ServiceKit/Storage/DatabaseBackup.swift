import Bus
import Foundation
import GRDB
import Primitives

#if canImport(Glibc)
    import Glibc
#endif

/// A consistent copy of a service's database while the service runs, checked, written whole or not
/// at all: what `bookdelivery backup` and a service's periodic backups (``PeriodicBackup``) write.
///
/// `VACUUM INTO` reads one snapshot in a read transaction: in WAL mode the service's writers go on
/// meanwhile (they append to the log; only the checkpoint waits for the reader), so the copy costs
/// them nothing but disk bandwidth. Rejected: SQLite's backup API in one step, which is the same
/// read but copies free pages too; in small steps, it restarts whenever a writer commits, and a busy
/// service commits every few milliseconds; copying the files, which is not consistent while the
/// log is being written.
public enum DatabaseBackup {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Copies the database at `path` to `file` (0600): beside it first, checked, synced, then
    /// renamed, so `file` is the previous copy or a whole new one. Returns what the copy holds.
    @discardableResult
    public static func copy(databaseAt path: String, to file: String) throws -> DatabaseSummary {
        guard FileManager.default.fileExists(atPath: path) else { throw Failure(description: "no database at \(path)") }
        let temporary = file + ".partial"
        unlink(temporary)
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            try DatabaseQueue(path: path, configuration: configuration).inDatabase { database in
                try database.execute(sql: "VACUUM INTO ?", arguments: [temporary])
            }
            chmod(temporary, 0o600)
            let summary = try DatabaseSummary.read(path: temporary)
            try FileHandle(forUpdating: URL(fileURLWithPath: temporary)).synchronize()
            guard rename(temporary, file) == 0 else { throw Failure(description: "cannot rename the copy to \(file)") }
            return summary
        } catch let error as DatabaseError {
            unlink(temporary)
            throw Failure(description: "cannot back up \(path): \(error.message ?? "\(error)")")
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

/// What a database file holds: checked with `PRAGMA integrity_check`, its tables' row counts, the
/// last outbox row published, each group's position on the streams it consumes and what its inbox
/// last recorded.
public struct DatabaseSummary: Sendable {
    public let text: String

    public static func read(path: String) throws -> DatabaseSummary {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: path, configuration: configuration).read { db in
            let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard check == ["ok"] else {
                throw DatabaseBackup.Failure(description: "integrity check failed: \(check.prefix(5).joined(separator: "; "))")
            }
            guard try db.tableExists("grdb_migrations"), try db.tableExists("outbox") else {
                throw DatabaseBackup.Failure(description: "not a bookdelivery service's database (no migrations or outbox table)")
            }
            let migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            var lines = ["integrity: ok; migrations: \(migrations.joined(separator: ", "))"]
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            for table in tables {
                let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0
                lines.append("  \(table): \(rows) rows")
            }
            if let last = try Row.fetchOne(
                db,
                sql: "SELECT sequence, stream, type, publishedId FROM outbox WHERE publishedId IS NOT NULL ORDER BY sequence DESC LIMIT 1")
            {
                let (sequence, stream, type, id): (Int64, String, String, String) = (last[0], last[1], last[2], last[3])
                lines.append("last published: outbox row \(sequence), \(type) on \(stream) as \(id)")
            } else {
                lines.append("last published: none")
            }
            let unpublished = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE publishedAt IS NULL") ?? 0
            lines.append("not yet published: \(unpublished)")
            if try db.tableExists("consumer_positions") {
                for (group, stream, id) in try ConsumerPositions.all(in: db) {
                    lines.append("group \(group) applied \(stream) up to entry \(id)")
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT handler, COUNT(*), MAX(processedAt) FROM inbox GROUP BY handler ORDER BY handler")
            {
                let (handler, count, last): (String, Int, Int64) = (row[0], row[1], row[2])
                lines.append("inbox \(handler): \(count) events, the last applied at \(Timestamp.string(milliseconds: last))")
            }
            return DatabaseSummary(text: lines.joined(separator: "\n"))
        }
    }
}
