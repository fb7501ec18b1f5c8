import Foundation
import ProcessSupport
import Redis
import TestSupport
import XCTest

/// `up --redis-replicas 2`: a primary, two replicas and three sentinels; every part follows the
/// primary through them, and `ctl` stopping the primary shows a replica take over.
final class UpFailoverTests: XCTestCase {
    func testUpWithReplicasFailsOverWhenCtlStopsThePrimaryAndTheOldOneComesBackAsAReplica() async throws {
        let started = try await StartedUp.start(prefix: "up-replicas", arguments: ["--redis-replicas", "2"])
        defer { started.cleanUp() }
        let (admin, alice) = (try started.token("ADMIN"), try started.token("ALICE"))
        let secrets = started.data.appendingPathComponent("secrets")
        func secret(_ name: String) throws -> String {
            try String(contentsOf: secrets.appendingPathComponent(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let log = try String(contentsOfFile: started.logPath, encoding: .utf8)
        let sentinelLine = try XCTUnwrap(log.split(separator: "\n").first { $0.contains("sentinels on") }, log)
        let sentinelPorts = sentinelLine.components(separatedBy: "sentinels on ")[1].components(separatedBy: " watching")[0]
            .components(separatedBy: ", ").compactMap { Int($0) }
        XCTAssertEqual(sentinelPorts.count, 3, String(sentinelLine))
        var endpoint = try RedisEndpoint(
            url: "redis-sentinel://admin@" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/bookdelivery")
        endpoint.password = try secret("admin.password")
        XCTAssertThrowsError(try RedisConnection.open(endpoint), "the sentinels want their own password")
        endpoint.sentinels?.password = try secret("sentinels.password")
        func primaryPort() -> Int? { (try? RedisConnection.open(endpoint))?.endpoint.port }
        XCTAssertEqual(primaryPort(), started.redisPort, "up's redis-server is the first primary")
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: secrets.appendingPathComponent("sentinels.password").path)[.posixPermissions]
                as? Int, 0o600)

        // The replicas log in to the primary as `replica`, its password in a 0600 file, not on a command line.
        let replicaPassword = try secret("replica.password")
        for pid in try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init) {
            let arguments = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            XCTAssertFalse(arguments.contains(replicaPassword), "a password on a command line: \(pid)")
        }

        let (created, bookData) = try await started.call(
            "POST", "/books", body: #"{"title":"Dune","author":"Herbert","copies":100}"#, token: admin)
        XCTAssertEqual(created, 201)
        let bookId = try XCTUnwrap((try JSONSerialization.jsonObject(with: bookData) as? [String: Any])?["id"] as? String)
        func orderIsVisible() async throws -> Bool {
            let (ordered, rentalData) = try await started.call(
                "POST", "/rentals", body: #"{"bookId":"\#(bookId)","address":"1 Main St"}"#, token: alice)
            XCTAssertEqual(ordered, 201, "Rental takes orders whatever Redis does")
            let rentalId = try XCTUnwrap((try JSONSerialization.jsonObject(with: rentalData) as? [String: Any])?["id"] as? String)
            return await eventually(timeout: .seconds(60)) {
                let (status, view) = (try? await started.call("GET", "/rentals/\(rentalId)", token: alice)) ?? (0, Data())
                return status == 200 && String(decoding: view, as: UTF8.self).contains("\"deliveryStatus\":\"ready\"")
            }
        }
        let before = try await orderIsVisible()
        XCTAssertTrue(before, "an order flows to Delivery and Lookup through the sentinels' primary")

        let stop = try await started.ctl(["stop", "redis"])
        XCTAssertEqual(stop.status, 0, stop.output)
        let promoted = await eventually(timeout: .seconds(60)) { (primaryPort() ?? started.redisPort) != started.redisPort }
        XCTAssertTrue(promoted, "a replica was promoted")
        let after = try await orderIsVisible()
        XCTAssertTrue(after, "orders flow again, through the new primary")

        let start = try await started.ctl(["start", "redis"])
        XCTAssertEqual(start.status, 0, start.output)
        var old = RedisEndpoint(host: "127.0.0.1", port: started.redisPort, username: "admin", password: try secret("admin.password"))
        old.timeout = .seconds(2)
        let demoted = await eventually(timeout: .seconds(60)) {
            (try? RedisConnection(endpoint: old).command(["ROLE"]))?.array?.first?.string == "slave"
        }
        XCTAssertTrue(demoted, "the old primary came back as a replica of the new one")
    }
}
