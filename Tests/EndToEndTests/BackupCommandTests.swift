import Foundation
import ProcessSupport
import TestSupport
import XCTest

/// `bookdelivery backup` of a running service, and `restore`, which waits for the service to stop.
final class BackupCommandTests: XCTestCase {
    func testABackupOfARunningServiceRestoresItsStateAndARestoreRefusesWhileTheServiceRuns() async throws {
        let cluster = try await ServiceCluster.start()
        let book = try await cluster.send("rental", "POST", "/books", json: ["title": "Dune", "author": "Herbert", "copies": 3])
        XCTAssertEqual(book.status, 201)
        let bookId = try XCTUnwrap((book.json() as? [String: Any])?["id"] as? String)
        let database = cluster.directory.appendingPathComponent("rental.sqlite").path
        let backup = cluster.directory.appendingPathComponent("rental.backup").path

        // Orders keep coming while the copy is taken: the service is not stopped for it.
        async let orders: [Int] = {
            var statuses: [Int] = []
            for number in 0..<20 {
                let order = try? await cluster.send(
                    "rental", "POST", "/rentals", json: ["customerId": "c\(number)", "bookId": bookId, "address": "1 Main St"])
                statuses.append(order?.status ?? 0)
            }
            return statuses
        }()
        let printed = try await cluster.run(["backup", "--db", database, "--to", backup])
        let statuses = await orders
        XCTAssertTrue(statuses.allSatisfy { $0 == 201 || $0 == 409 }, "orders answered during the backup: \(statuses)")
        XCTAssertTrue(printed.contains("integrity: ok"), printed)
        XCTAssertTrue(printed.contains("books: 1 rows"), printed)
        XCTAssertTrue(printed.contains("last published:"), printed)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int, 0o600)

        // The book registered after the backup: the restore takes it back, the stream gives it again.
        let later = try await cluster.send("rental", "POST", "/books", json: ["title": "Emma", "author": "Austen", "copies": 1])
        XCTAssertEqual(later.status, 201)
        let laterId = try XCTUnwrap((later.json() as? [String: Any])?["id"] as? String)

        let refused = try? await cluster.run(["restore", "--db", database, "--from", backup])
        XCTAssertNil(refused, "a restore under a running service is refused")
        let unchanged = try await cluster.send("rental", "GET", "/books/\(laterId)").status
        XCTAssertEqual(unchanged, 200, "and changed nothing")

        await cluster.stop("rental")
        let restored = try await cluster.run(["restore", "--db", database, "--from", backup])
        XCTAssertTrue(restored.contains("restored"), restored)
        try await cluster.start("rental")
        let (before, after) = (
            try await cluster.send("rental", "GET", "/books/\(bookId)").status,
            try await cluster.send("rental", "GET", "/books/\(laterId)").status
        )
        XCTAssertEqual(before, 200, "what the backup held is back")
        XCTAssertEqual(after, 200, "and what came after it, which Rental caught up on from its stream as it started")
    }

    func testABrokenOrForeignFileIsNoBackup() async throws {
        let cluster = try await ServiceCluster.start()
        let database = cluster.directory.appendingPathComponent("notifier.sqlite").path
        let garbage = cluster.directory.appendingPathComponent("garbage.backup")
        try Data(repeating: 7, count: 8192).write(to: garbage)
        await cluster.stop("notifier")
        let refused = try? await cluster.run(["restore", "--db", database, "--from", garbage.path])
        XCTAssertNil(refused, "not a database: refused")
        let untouched = try await cluster.run(["backup", "--db", database, "--to", database + ".copy"])
        XCTAssertTrue(untouched.contains("integrity: ok"), "the database itself was left as it was: \(untouched)")
    }
}
