import ArgumentParser
import Foundation
import GRDB
import Primitives

#if canImport(Glibc)
    import Glibc
#endif

/// `bookdelivery backup --db DB --to FILE`: a consistent copy of a service's database while the
/// service runs, checked, with what it holds.
///
/// `VACUUM INTO` reads one snapshot in a read transaction: in WAL mode the service's writers go on
/// meanwhile (they append to the log; only the checkpoint waits for the reader), so the copy costs
/// them nothing but disk bandwidth. Rejected: SQLite's backup API in one step, which is the same
/// read but copies free pages too; in small steps, it restarts whenever a writer commits, and a busy
/// service commits every few milliseconds; copying the files, which is not consistent while the
/// log is being written.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a service's SQLite database while it runs: consistent, checked, 0600; prints what the copy holds.",
        discussion: """
            The copy is written beside FILE, checked with PRAGMA integrity_check, then renamed to FILE: FILE is either \
            the previous one or a whole new one, never half. Restore it with `bookdelivery restore`.
            """)

    @Option(help: "The service's database (its --db).") var db: String
    @Option(help: "Where the copy goes (replaced if it exists).") var to: String

    func run() async throws {
        guard FileManager.default.fileExists(atPath: db) else { throw ValidationError("no database at \(db)") }
        let temporary = to + ".partial"
        unlink(temporary)
        let started = ContinuousClock.now
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            try DatabaseQueue(path: db, configuration: configuration).inDatabase { database in
                try database.execute(sql: "VACUUM INTO ?", arguments: [temporary])
            }
            chmod(temporary, 0o600)
            let summary = try DatabaseSummary.read(path: temporary)
            try FileHandle(forUpdating: URL(fileURLWithPath: temporary)).synchronize()
            guard rename(temporary, to) == 0 else { throw ValidationError("cannot rename the copy to \(to)") }
            print("backup of \(db) written to \(to) in \(Int((ContinuousClock.now - started).milliseconds)) ms")
            print(summary.text)
        } catch let error as DatabaseError {
            unlink(temporary)
            throw ValidationError("cannot back up \(db): \(error.message ?? "\(error)")")
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

/// `bookdelivery restore --db DB --from FILE`: puts a backup in place of a database no process has open.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place of a service's database; refuses while any process has the database open.",
        discussion: """
            The backup is checked first (PRAGMA integrity_check, and that it is a bookdelivery database). The database's \
            log (DB-wal, DB-shm) goes too: what it held is what the restore replaces.
            """)

    @Option(help: "The service's database (its --db).") var db: String
    @Option(help: "The backup to restore (from `bookdelivery backup`).") var from: String

    func run() async throws {
        guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("no backup at \(from)") }
        let holders = OpenFiles.processes(holding: [db, db + "-wal", db + "-shm"])
        guard holders.isEmpty else {
            throw ValidationError(
                "\(db) is open in process \(holders.map(String.init).joined(separator: ", ")): stop the service before restoring")
        }
        let summary: DatabaseSummary
        do { summary = try DatabaseSummary.read(path: from) } catch { throw ValidationError("\(from) is no usable backup: \(error)") }
        let temporary = db + ".restoring"
        unlink(temporary)
        try FileManager.default.copyItem(atPath: from, toPath: temporary)
        chmod(temporary, 0o600)
        try FileHandle(forUpdating: URL(fileURLWithPath: temporary)).synchronize()
        unlink(db + "-wal")
        unlink(db + "-shm")
        guard rename(temporary, db) == 0 else { throw ValidationError("cannot rename the restored copy to \(db)") }
        print("restored \(db) from \(from)")
        print(summary.text)
    }
}

/// What a database file holds: checked with `PRAGMA integrity_check`, its tables' row counts, the
/// last outbox row published and what each handler's inbox last recorded.
struct DatabaseSummary {
    let text: String

    static func read(path: String) throws -> DatabaseSummary {
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: path, configuration: configuration).read { db in
            let check = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard check == ["ok"] else { throw ValidationError("integrity check failed: \(check.prefix(5).joined(separator: "; "))") }
            guard try db.tableExists("grdb_migrations"), try db.tableExists("outbox") else {
                throw ValidationError("not a bookdelivery service's database (no migrations or outbox table)")
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
            for row in try Row.fetchAll(db, sql: "SELECT handler, COUNT(*), MAX(processedAt) FROM inbox GROUP BY handler ORDER BY handler")
            {
                let (handler, count, last): (String, Int, Int64) = (row[0], row[1], row[2])
                let when = Timestamp.string(milliseconds: last)
                lines.append("inbox \(handler): \(count) events, the last applied at \(when)")
            }
            return DatabaseSummary(text: lines.joined(separator: "\n"))
        }
    }
}

/// Which processes have a file open, from `/proc/*/fd` (Linux).
enum OpenFiles {
    static func processes(holding paths: [String]) -> [Int32] {
        let wanted = Set(paths.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path })
        let own = getpid()
        var holders: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != own else { continue }
            let directory = "/proc/\(entry)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(fd)"), wanted.contains(target) {
                    holders.append(pid)
                    break
                }
            }
        }
        return holders
    }
}
