import Bus
import Foundation
import GRDB
import HummingbirdTesting
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

    func testHealthAndTheMetricsShowTheLastBackupsAge() async throws {
        let path = try temporaryDatabasePath("service")
        _ = try ServiceDatabase.open(at: path, migrator: ServiceDatabase.migrator())
        let directory = try TemporaryDirectory.make(prefix: "backups").path
        let backup = PeriodicBackup(
            service: "test", databasePath: path, configuration: .init(directory: directory, interval: .seconds(900)),
            logger: .test("backup"))
        var health = HealthSources()
        health.backup = backup
        let router = makeServiceRouter(service: "test", wiring: ServiceWiring(authentication: .disabled, health: health)) { _ in }
        try await withClient(router) { client in
            let before = try await client.call(.get, "/health", as: Health.self).backup
            XCTAssertEqual(before?.everySeconds, 900)
            XCTAssertNil(before?.lastFile, "no backup yet")
            try await backup.backUp(now: Date().addingTimeInterval(-120))
            let after = try await client.call(.get, "/health", as: Health.self).backup
            XCTAssertEqual(after?.lastFile, backup.lastBackup.map { ($0.file as NSString).lastPathComponent })
            XCTAssertEqual(after?.ageSeconds ?? 0, 120, accuracy: 5)
            let metrics = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            func value(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
            }
            XCTAssertEqual(value("backup_age_seconds") ?? 0, 120, accuracy: 5, metrics)
            XCTAssertEqual(value("backup_interval_seconds"), 900, metrics)
        }
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
