import ArgumentParser
import Foundation
import GRDB
import Primitives
import ServiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// `bookdelivery backup --db DB --to FILE`: a consistent copy of a service's database while the
/// service runs, checked, with what it holds (``DatabaseBackup``).
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a service's SQLite database while it runs: consistent, checked, 0600; prints what the copy holds.",
        discussion: """
            The copy is written beside FILE, checked with PRAGMA integrity_check, then renamed to FILE: FILE is either \
            the previous one or a whole new one, never half. Restore it with `bookdelivery restore`; the service then \
            catches up on what came after the copy from the streams when it starts. Services also write copies \
            periodically with --backup-dir.
            """)

    @Option(help: "The service's database (its --db).") var db: String
    @Option(help: "Where the copy goes (replaced if it exists).") var to: String

    func run() async throws {
        let started = ContinuousClock.now
        do {
            let summary = try DatabaseBackup.copy(databaseAt: db, to: to)
            print("backup of \(db) written to \(to) in \(Int((ContinuousClock.now - started).milliseconds)) ms")
            print(summary.text)
        } catch let error as DatabaseBackup.Failure {
            throw ValidationError(error.description)
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
