import Bus
import Contracts
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Identity
import Primitives
import Redis
import ServiceKit
import ServiceTestSupport
import Synchronization
import TestSupport
import XCTest

/// Group commit on a real SQLite file: the writes that arrive while a commit is in progress share
/// the next transaction, and one that fails is rolled back alone.
final class GroupCommitTests: XCTestCase {
    /// Counts the transactions committed on a connection.
    private final class CommitCounter: TransactionObserver, @unchecked Sendable {
        let commits = Mutex(0)
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
        func databaseDidRollback(_ db: Database) {}
    }

    private struct Refused: Error, Equatable {}

    /// 20 writes arrive while the writer is busy; the 8th throws after inserting its row.
    private func writeTwentyWhileBusy(groupCommit: Bool) async throws -> (rows: [Int], refused: [Int], commits: Int) {
        var migrator = ServiceDatabase.migrator()
        migrator.registerMigration("items") { db in try db.execute(sql: "CREATE TABLE items(number INTEGER PRIMARY KEY)") }
        let database = try ServiceDatabase.open(at: try temporaryDatabasePath("group"), migrator: migrator)
        let counter = CommitCounter()
        try await database.writeWithoutTransaction { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let writes = GroupCommit(database: database, enabled: groupCommit)
        let busy = DispatchSemaphore(value: 0)
        database.asyncWriteWithoutTransaction { _ in busy.wait() }  // a commit in progress, as far as the queue knows
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for number in 0..<20 {
                group.addTask {
                    do {
                        try await writes.write { db in
                            try db.execute(sql: "INSERT INTO items VALUES (?)", arguments: [number])
                            if number == 7 { throw Refused() }
                        }
                        return (number, true)
                    } catch is Refused {
                        return (number, false)
                    }
                }
            }
            let waiting = await eventually { writes.waitingWrites == 20 }
            XCTAssertTrue(waiting, "the 20 writes wait for the commit in progress")
            busy.signal()
            return try await group.reduce(into: [(Int, Bool)]()) { $0.append($1) }
        }
        let rows = try await database.read { try Int.fetchAll($0, sql: "SELECT number FROM items ORDER BY number") }
        return (rows, outcomes.filter { !$0.1 }.map(\.0), counter.commits.withLock { $0 })
    }

    func testWritesArrivingDuringACommitShareOneTransactionAndAFailingOneIsRolledBackAlone() async throws {
        let grouped = try await writeTwentyWhileBusy(groupCommit: true)
        XCTAssertEqual(grouped.rows, Array(0..<20).filter { $0 != 7 }, "the others committed, the refused one's row is gone")
        XCTAssertEqual(grouped.refused, [7], "the refused write's caller got its error")
        XCTAssertEqual(grouped.commits, 1, "one transaction, one fsync, for all 20")

        let alone = try await writeTwentyWhileBusy(groupCommit: false)
        XCTAssertEqual(alone.rows, grouped.rows)
        XCTAssertEqual(alone.refused, [7], "alone in its transaction, the refused write is rolled back and its caller told")
        XCTAssertEqual(alone.commits, 19, "without group commit: a transaction per write, the refused one rolled back")
    }

    func testDurabilityIsFullByDefaultAndNormalWhenAsked() async throws {
        for (durability, expected) in [(StorageOptions.Durability.full, 2), (.normal, 1)] {
            let database = try ServiceDatabase.open(
                at: try temporaryDatabasePath("sync"), migrator: ServiceDatabase.migrator(), durability: durability)
            // The writer commits: its setting is the one that counts (and a reader's should agree).
            let writer = try await database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            let reader = try await database.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            XCTAssertEqual(writer, expected, "\(durability): the writer")
            XCTAssertEqual(reader, expected, "\(durability): a reader")
        }
        XCTAssertEqual(StorageOptions().durability, .full)
    }
}

/// The `Authorization` header, read as bytes: the scheme in any case, blanks around the token.
final class AuthorizationHeaderTests: XCTestCase {
    func testABearerTokenIsReadInAnyCaseAndAnythingElseIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = KeyDirectory(path: directory.path)
        try keys.create()
        let token = try await keys.issuer().token(subject: "alice", role: .customer)
        let authentication = Authentication.tokens(try await keys.verifier())
        let alice = Caller(subject: "alice", role: .customer)
        for header in ["Bearer \(token)", "bearer \(token)", "BEARER  \(token) ", "Bearer \t\(token)\t"] {
            let caller = try await authentication.caller(authorization: header)
            XCTAssertEqual(caller, alice, header)
        }
        let noHeader = try await authentication.caller(authorization: nil)
        XCTAssertNil(noHeader)
        for header in ["Basic \(token)", "Bearer", "Bearer ", "Bearer  ", "Bearer\(token)", "Bearer x\(token)", "Bearér \(token)"] {
            do {
                _ = try await authentication.caller(authorization: header)
                XCTFail("'\(header.prefix(12))…' must be refused")
            } catch let error as APIError {
                XCTAssertEqual(error.status, .unauthorized, header)
            }
        }
    }
}
