import Bus
import Foundation
import GRDB
import ServiceKit
import ServiceTestSupport
import TestSupport
import XCTest

/// A service's periodic backups (``PeriodicBackup``): whole, checked, 0600 copies, the newest kept,
/// their age in `/health` and the metrics.
final class PeriodicBackupTests: XCTestCase {
    func testBackupsAreWrittenPeriodicallyCheckedPrivateAndOnlyTheNewestKept() async throws {
        let path = try temporaryDatabasePath("service")
        let database = try ServiceDatabase.open(at: path, migrator: ServiceDatabase.migrator())
        try await database.write { db in _ = try Inbox.firstDelivery(of: "e-1", to: "test", in: db) }
        let directory = try TemporaryDirectory.make(prefix: "backups").path
        let backup = PeriodicBackup(
            service: "test", databasePath: path, configuration: .init(directory: directory, interval: .milliseconds(50), keep: 2),
            logger: .test("backup"))
        XCTAssertNil(backup.lastBackup)
        let services = RunningServices([backup])
        let written = await eventually { self.files(in: directory).count == 2 && backup.lastBackup != nil }
        let more = await eventually { (backup.lastBackup?.at ?? .distantPast) > Date().addingTimeInterval(-0.5) }
        await services.stop()
        XCTAssertTrue(written && more)
        let files = files(in: directory)
        XCTAssertEqual(files.count, 2, "only the newest two kept: \(files)")
        XCTAssertTrue(files.allSatisfy { $0.hasPrefix("test-") && $0.hasSuffix(".sqlite") }, "\(files)")
        for file in files {
            let full = directory + "/" + file
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: full)[.posixPermissions] as? Int, 0o600)
            let summary = try DatabaseSummary.read(path: full)
            XCTAssertTrue(summary.text.contains("inbox test: 1 events"), summary.text)
        }
        XCTAssertEqual(backup.lastBackup.map { ($0.file as NSString).lastPathComponent }, files.last)

        // A restarted process counts the newest file as its last backup.
        let restarted = PeriodicBackup(
            service: "test", databasePath: path, configuration: .init(directory: directory, interval: .seconds(3600)),
            logger: .test("backup"))
        XCTAssertEqual(restarted.lastBackup?.file, directory + "/" + files.last!)
        XCTAssertLessThan(restarted.ageCountsFrom.timeIntervalSinceNow, 0)
    }

    func testAFailedBackupLeavesNoFileAndKeepsTheAgeGrowing() async throws {
        let directory = try TemporaryDirectory.make(prefix: "backups").path
        let backup = PeriodicBackup(
            service: "test", databasePath: directory + "/missing.sqlite", configuration: .init(directory: directory),
            logger: .test("backup"))
        do {
            try await backup.backUp()
            XCTFail("backed up a database that does not exist")
        } catch let error as DatabaseBackup.Failure {
            XCTAssertTrue(error.description.contains("no database"), error.description)
        }
        XCTAssertEqual(files(in: directory), [])
        XCTAssertNil(backup.lastBackup)
    }

    private func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".sqlite") }.sorted()
    }
}
