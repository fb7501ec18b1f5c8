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

/// The parts every service is built from, over real SQLite files.
final class ServiceKitTests: XCTestCase {
    private func database(_ extra: ((inout DatabaseMigrator) -> Void)? = nil) throws -> DatabasePool {
        var migrator = ServiceDatabase.migrator()
        extra?(&migrator)
        return try ServiceDatabase.open(at: try temporaryDatabasePath("kit"), migrator: migrator)
    }

    func testProcessesStartingAtOnceOnANewFileAllMigrateIt() throws {
        for round in 0..<5 {
            let path = try temporaryDatabasePath("race-\(round)")
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do {
                    _ = try ServiceDatabase.open(at: path, migrator: ServiceDatabase.migrator())
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            XCTAssertEqual(failures.withLock { $0 }, [], "round \(round)")
        }
    }

    func testABatchWhoseTransactionFailsAsAWholeIsRetriedEventByEvent() async throws {
        // A deferred foreign key is checked at COMMIT: one bad event fails the whole batch's transaction.
        let database = try database { migrator in
            migrator.registerMigration("test") { db in
                try db.execute(
                    sql: """
                        CREATE TABLE parents(id TEXT PRIMARY KEY);
                        INSERT INTO parents VALUES ('b-1');
                        CREATE TABLE children(id TEXT PRIMARY KEY, parent TEXT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED);
                        """)
            }
        }
        var routes = EventRoutes(group: "test", database: database)
        routes.on(BookRegistered.self) { event, _, db in
            try db.execute(sql: "INSERT INTO children VALUES (?, ?)", arguments: [event.title, event.author])
        }
        let events = try [("one", "b-1"), ("orphan", "nobody"), ("two", "b-1")].map { title, parent in
            try BookRegistered(bookId: UUID().uuidString, title: title, author: parent, copies: 1).received()
        }
        let outcomes = await routes.batchHandler(events)
        XCTAssertEqual(outcomes.map { $0 == nil }, [true, false, true], "only the guilty event failed")
        let children = try await database.read { try String.fetchAll($0, sql: "SELECT id FROM children ORDER BY id") }
        XCTAssertEqual(children, ["one", "two"])
    }

    /// Events of types with no route are acknowledged without a transaction on the writer.
    func testABatchOfEventsWithNoRouteTakesNoTransaction() async throws {
        let database = try database()
        let statements = Mutex<[String]>([])
        try await database.writeWithoutTransaction { db in db.trace { event in statements.withLock { $0.append("\(event)") } } }
        var routes = EventRoutes(group: "test", database: database)
        routes.on(BookRegistered.self) { _, _, _ in }
        let unrouted = try (0..<2).map { _ in
            try DeliveryScheduled(facts: DeliveryFacts(deliveryId: "d-1", rentalId: "r-1", customerId: "alice")).received()
        }
        for batch in [[unrouted[0]], unrouted] {
            let outcomes = await routes.batchHandler(batch)
            XCTAssertEqual(outcomes.map { $0 == nil }, batch.map { _ in true }, "acknowledged")
        }
        XCTAssertEqual(statements.withLock { $0 }, [], "no transaction, not even an empty one")
        let routed = try BookRegistered(bookId: UUID().uuidString, title: "Dune", author: "Herbert", copies: 1).received()
        _ = await routes.batchHandler([routed])
        XCTAssertTrue(statements.withLock { $0 }.contains { $0.hasPrefix("BEGIN") }, "a routed event is applied in a transaction")
    }

    /// A consumer's routes write on the consumer's own thread (its connection's): GRDB's idle writer
    /// queue runs a synchronous write on its caller, with no hop to the writer's thread and back.
    func testAConsumersRoutesWriteOnTheConsumersOwnThread() async throws {
        let redis = try await RedisServer()
        let database = try database()
        let client = RedisClient(endpoint: redis.endpoint, logger: .test("c"))
        let connectionThread = try await client.withConnection { _ in UInt(pthread_self()) }
        let writers = Mutex<[UInt]>([])
        var routes = EventRoutes(group: "test", database: database)
        routes.on(BookRegistered.self) { _, _, _ in writers.withLock { $0.append(UInt(pthread_self())) } }
        var configuration = StreamConsumer.Configuration(streams: ["rental-events"], group: "test", consumer: "c")
        configuration.blockTimeout = .milliseconds(100)
        let consumer = StreamConsumer(configuration: configuration, client: client, logger: .test("c"), batchHandler: routes.batchHandler)
        let services = RunningServices([consumer])
        let event = try BookRegistered(bookId: UUID().uuidString, title: "Dune", author: "Herbert", copies: 1).outgoing()
        try await StreamPublisher(client: RedisClient(endpoint: redis.endpoint, logger: .test("p"))).publish(event)
        let applied = await eventually { !writers.withLock { $0 }.isEmpty }
        await services.stop()
        XCTAssertTrue(applied)
        XCTAssertEqual(writers.withLock { $0 }, [connectionThread])
    }

    func testHousekeepingPrunesInboxIdsAndIdempotencyKeys() async throws {
        let database = try database()
        try await database.write { db in
            _ = try Inbox.firstDelivery(of: "e-1", to: "notifier", in: db)
            try db.execute(
                sql:
                    "INSERT INTO idempotency_keys(scope, key, request, status, response, createdAt) VALUES ('', 'k', x'00', 201, x'00', ?)",
                arguments: [Timestamp.milliseconds()])
        }
        let housekeeping = Housekeeping(database: database, logger: .test("housekeeping"))
        try await housekeeping.prune()
        let kept = try await database.read { db in
            [try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM idempotency_keys")]
        }
        XCTAssertEqual(kept, [1, 1], "too young to go")
        try await housekeeping.prune(now: Timestamp.milliseconds() + 8 * 24 * 3600 * 1000)
        let pruned = try await database.read { db in
            [try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox"), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM idempotency_keys")]
        }
        XCTAssertEqual(pruned, [0, 0])
    }

    func testTheCheckpointerCopiesTheLogIntoTheFileSoThatTheWriterNeedNot() async throws {
        let database = try database { migrator in
            migrator.registerMigration("test") { db in try db.execute(sql: "CREATE TABLE pages(body BLOB NOT NULL)") }
        }
        func fileBytes() throws -> Int { try FileManager.default.attributesOfItem(atPath: database.path)[.size] as? Int ?? 0 }
        func writerThreshold() async throws -> Int? {
            try await database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        }
        // 2 MB in 500 pages: under the writer's own threshold (1,000 pages), so without the
        // checkpointer they would stay in the log and the file would not grow.
        for _ in 0..<10 {
            try await database.write { db in
                for _ in 0..<25 { try db.execute(sql: "INSERT INTO pages VALUES (randomblob(8000))") }
            }
        }
        let before = try fileBytes()
        XCTAssertLessThan(before, 1_000_000, "the rows are still in the log only")

        let services = RunningServices([WALCheckpointer(writer: database, interval: .milliseconds(20), logger: .test("checkpointer"))])
        let copied = try await eventually { try fileBytes() >= 2_000_000 }
        XCTAssertTrue(copied, "the file holds the rows: \((try? fileBytes()) ?? 0) bytes")
        let raised = try await eventually { try await writerThreshold() == WALCheckpointer.backstopPages }
        XCTAssertTrue(raised, "the writer checkpoints itself only past the backstop while the checkpointer runs")
        // The writer goes on while it runs, and what it writes reaches the file too: its commit
        // wakes the checkpointer, which otherwise waits.
        try await database.write { db in
            for _ in 0..<250 { try db.execute(sql: "INSERT INTO pages VALUES (randomblob(8000))") }
        }
        let copiedAgain = try await eventually { try fileBytes() >= 4_000_000 }
        XCTAssertTrue(copiedAgain, "later rows reach the file too: \((try? fileBytes()) ?? 0) bytes")
        let rows = try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pages") }
        XCTAssertEqual(rows, 500)

        await services.stop()
        let restored = try await writerThreshold()
        XCTAssertEqual(restored, 1000, "stopped, it hands checkpoints back to the writer")
    }

    func testAnIdempotencyKeyReplaysTheFirstAnswerAndRefusesAnotherRequest() async throws {
        let database = try database { migrator in
            migrator.registerMigration("test") { db in try db.execute(sql: "CREATE TABLE effects(n INTEGER)") }
        }
        let writes = IdempotentWrites(writes: GroupCommit(database: database))
        let router = Router(context: ServiceRequestContext.self)
        router.middlewares.add(JSONErrorMiddleware())
        router.post("/effects") { request, _ in
            let body = try await request.collectBody()
            return try await writes.respond(to: request, by: .noAuthAdmin, body: body, status: .created) { db -> [String: Int] in
                try db.execute(sql: "INSERT INTO effects VALUES (1)")
                return ["effects": try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM effects") ?? 0]
            }
        }
        try await withClient(router) { client in
            func post(_ body: String, key: String?) async throws -> (HTTPResponse.Status, String, String?) {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let key { headers[IdempotentWrites.header] = key }
                return try await client.execute(uri: "/effects", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                    ($0.status, String(buffer: $0.body), $0.headers[IdempotentWrites.replayedHeader])
                }
            }
            let first = try await post(#"{"a":1}"#, key: "key-1")
            XCTAssertEqual(first.0, .created)
            XCTAssertNil(first.2)
            let again = try await post(#"{"a":1}"#, key: "key-1")
            XCTAssertEqual(again.0, .created, "the same status")
            XCTAssertEqual(again.1, first.1, "the same body")
            XCTAssertEqual(again.2, "true")
            let other = try await post(#"{"a":2}"#, key: "key-1")
            XCTAssertEqual(other.0, .unprocessableContent)
            XCTAssertTrue(other.1.contains("different request"), other.1)
            let bad = try await post(#"{"a":1}"#, key: "has a space")
            XCTAssertEqual(bad.0, .badRequest)
            let withoutKey = try await post(#"{"a":1}"#, key: nil)
            XCTAssertEqual(withoutKey.0, .created)
        }
        let effects = try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM effects") }
        XCTAssertEqual(effects, 2, "one for the key, however often it came, one without a key")
    }
}

extension ServiceKitTests {
    func testPageCursorsSurviveTheRoundTripWhateverTheirBase64Holds() async throws {
        // "?>?" encodes to "Pz4/": base64url writes '_' for '/', and '-' for '+' ("~~~" → "fn5+").
        for (position, id) in [("?>?>?>", "~~~"), ("2026-11-21T20:20:57.652Z", UUID().uuidString), ("1795293178892", "r-0")] {
            let cursor = PageCursor(position: position, id: id)
            let router = Router(context: ServiceRequestContext.self)
            router.get("/page") { request, _ in
                let page = try PageRequest(request)
                return "\(page.after?.position ?? "none")|\(page.after?.id ?? "none")"
            }
            try await withClient(router) { client in
                let response = try await client.execute(uri: "/page?cursor=\(cursor.encoded)", method: .get)
                XCTAssertEqual(response.status, .ok, "\(cursor.encoded)")
                XCTAssertEqual(String(buffer: response.body), "\(position)|\(id)")
            }
        }
    }
}

/// The byte-level fast paths of `Validate` give the answers of the general checks they skip.
final class ValidateTests: XCTestCase {
    func testCanonicalUUIDAcceptsThe36CharacterFormAndLowercasesIt() {
        let random = UUID()
        for valid in ["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", "0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6", random.uuidString] {
            XCTAssertEqual(Validate.canonicalUUID(valid), UUID(uuidString: valid)?.uuidString.lowercased(), valid)
        }
        XCTAssertEqual(Validate.canonicalUUID(random.uuidString), random.uuidString.lowercased())
        let invalid = [
            // Foundation's parser takes this one (a last group one digit short) for "…e50f": another id.
            "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f",
            "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6a", "0192f3c45b6a-7c8d-9e0f-a1b2c3d4e5f6-", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5g6",
            "0192f3c4_5b6a-7c8d-9e0f-a1b2c3d4e5f6", " 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5fé", "",
            "not a uuid at all, but 36 long!!!!!",
        ]
        for sample in invalid { XCTAssertNil(Validate.canonicalUUID(sample), sample) }
        // The allocation-free check the consumers use agrees with it on every sample.
        for sample in invalid + ["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", random.uuidString, "0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6"] {
            XCTAssertEqual(UUIDText.isUUID(sample), Validate.canonicalUUID(sample) != nil, sample)
        }
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let sample = "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f" + String(UnicodeScalar(byte))
            XCTAssertEqual(UUIDText.isUUID(sample), "0123456789abcdefABCDEF".utf8.contains(byte), sample)
        }
    }

    func testTextTrimsAndRefusesLikeTheGeneralChecks() throws {
        XCTAssertEqual(try Validate.text("  Dune  ", "title"), "Dune")
        XCTAssertEqual(try Validate.text("Dune", "title"), "Dune")
        XCTAssertEqual(try Validate.text("\u{00A0}Dune\u{3000}", "title"), "Dune", "Unicode spaces are trimmed by the general path")
        XCTAssertEqual(try Validate.text(" Déjà vu ", "title"), "Déjà vu")
        for bad in [nil, "", "   ", "Dune\n", "Du\u{0}ne", "\tDune", String(repeating: "x", count: 11)] {
            XCTAssertThrowsError(try Validate.text(bad, "title", maxLength: 10), "\(String(describing: bad))")
        }
        XCTAssertEqual(try Validate.text(String(repeating: "x", count: 10), "title", maxLength: 10).count, 10)
        XCTAssertEqual(try Validate.uuid(" 0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6 ", "bookId"), "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
        XCTAssertThrowsError(try Validate.uuid("0192f3c4-5b6a-7c8d-9e0f", "bookId"))
    }
}

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
