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
