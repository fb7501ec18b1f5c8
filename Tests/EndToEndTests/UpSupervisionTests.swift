import Foundation
import ProcessSupport
import Redis
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `up` as a supervisor, and `bookdelivery ctl` driving it, on real processes.
final class UpSupervisionTests: XCTestCase {
    private func ctl(_ arguments: [String], _ started: StartedUp) async throws -> (status: Int32, output: String) {
        try await started.ctl(arguments)
    }

    private func status(_ started: StartedUp) async throws -> [[String: Any]] {
        let (code, output) = try await ctl(["status", "--json"], started)
        XCTAssertEqual(code, 0, output)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], output)
    }

    private func instances(of name: String, _ started: StartedUp) async throws -> [[String: Any]] {
        try await status(started).filter { $0["name"] as? String == name }
    }

    private func token(_ variable: String, _ started: StartedUp) throws -> String { try started.token(variable) }

    private func call(_ method: String, _ path: String, body: String? = nil, token: String, _ started: StartedUp) async throws -> (
        Int, Data
    ) {
        try await started.call(method, path, body: body, token: token)
    }

    func testAKilledPartIsRestartedAndAWedgedOneTooWhileTheRestKeepsServing() async throws {
        let started = try await StartedUp.start(prefix: "up-heals")
        defer { started.cleanUp() }
        let notifierPort = String(started.ports["notifier"]!)
        let notifier = try XCTUnwrap(UpCommandTests.process(withArguments: ["notifier", "--port", notifierPort]))
        kill(notifier, SIGKILL)
        let restarted = await eventually(timeout: .seconds(30)) {
            let row = try? await self.instances(of: "notifier", started).first
            return row?["restarts"] as? Int == 1 && row?["state"] as? String == "ready" && row?["pid"] as? Int != Int(notifier)
        }
        let now = try await status(started)
        XCTAssertTrue(restarted, "the notifier is back, as a new process: \(now)")
        let (books, _) = try await call("GET", "/books", token: try token("ALICE", started), started)
        XCTAssertEqual(books, 200, "the rest kept serving")

        // Wedged, not dead: SIGSTOP. Its /live stops answering; after 3 failed checks it is killed and restarted.
        let lookup = try XCTUnwrap(UpCommandTests.process(withArguments: ["lookup", "--port", String(started.ports["lookup"]!)]))
        kill(lookup, SIGSTOP)
        let healed = await eventually(timeout: .seconds(40)) {
            let row = try? await self.instances(of: "lookup", started).first
            return row?["restarts"] as? Int == 1 && row?["state"] as? String == "ready"
        }
        XCTAssertTrue(healed, "the wedged lookup was restarted")
        let log = try String(contentsOfFile: started.logPath, encoding: .utf8)
        XCTAssertTrue(log.contains("notifier exited (signal 9): restarting it in 0.5 s"), "the reason is logged")
        XCTAssertTrue(log.contains("lookup failed /live 3 checks in a row"), "the reason is logged")
    }

    func testEveryCtlVerbAndAScaleOutWithoutDuplicatesAndARedeployWithoutAFailedRequest() async throws {
        let started = try await StartedUp.start(prefix: "up-ctl")
        defer { started.cleanUp() }
        let (admin, alice) = (try token("ADMIN", started), try token("ALICE", started))
        let socket = started.data.appendingPathComponent("up.sock").path
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int, 0o600, "the socket is the user's alone")
        let rows = try await status(started)
        XCTAssertEqual(rows.compactMap { $0["name"] as? String }, ["redis", "rental", "delivery", "lookup", "notifier", "gateway"])
        for row in rows {
            for key in ["name", "instance", "pid", "port", "state", "restarts", "uptimeSeconds"] {
                XCTAssertNotNil(row[key], "\(key) in \(row)")
            }
        }
        let table = try await ctl(["status"], started)
        XCTAssertTrue(table.output.hasPrefix("NAME"), table.output)

        // Stopped stays stopped; the core keeps taking orders; started again, Delivery catches up.
        let stop = try await ctl(["stop", "delivery"], started)
        XCTAssertEqual(stop.status, 0, stop.output)
        let (created, bookData) = try await call(
            "POST", "/books", body: #"{"title":"Dune","author":"Herbert","copies":100}"#, token: admin, started)
        XCTAssertEqual(created, 201)
        let bookId = try XCTUnwrap((try JSONSerialization.jsonObject(with: bookData) as? [String: Any])?["id"] as? String)
        let order = #"{"bookId":"\#(bookId)","address":"1 Main St"}"#
        let (ordered, rentalData) = try await call("POST", "/rentals", body: order, token: alice, started)
        XCTAssertEqual(ordered, 201, "Rental takes orders while Delivery is stopped")
        let rentalId = try XCTUnwrap((try JSONSerialization.jsonObject(with: rentalData) as? [String: Any])?["id"] as? String)
        let gatewayUptime = try await instances(of: "gateway", started).first?["uptimeSeconds"] as? Int ?? 0
        let watchedOn = await eventually {
            ((try? await self.instances(of: "gateway", started).first?["uptimeSeconds"] as? Int) ?? 0) >= gatewayUptime + 3
        }
        XCTAssertTrue(watchedOn)
        let stillStopped = try await instances(of: "delivery", started).first?["state"] as? String
        XCTAssertEqual(stillStopped, "stopped", "not restarted by the supervisor")
        let start = try await ctl(["start", "delivery"], started)
        XCTAssertEqual(start.status, 0, start.output)
        let caughtUp = await eventually {
            let (code, data) = (try? await self.call("GET", "/deliveries?rentalId=\(rentalId)", token: admin, started)) ?? (0, Data())
            return code == 200 && ((try? JSONSerialization.jsonObject(with: data)) as? [Any])?.count == 1
        }
        XCTAssertTrue(caughtUp, "the order made while Delivery was stopped got its delivery")

        let restart = try await ctl(["restart", "lookup"], started)
        XCTAssertEqual(restart.status, 0, restart.output)
        let lookupRestarts = try await instances(of: "lookup", started).first?["restarts"] as? Int
        XCTAssertEqual(lookupRestarts, 1)

        // Three Delivery instances share the work; every order gets exactly one delivery.
        let scaled = try await ctl(["scale", "delivery=3"], started)
        XCTAssertEqual(scaled.status, 0, scaled.output)
        let deliveries = try await instances(of: "delivery", started)
        XCTAssertEqual(deliveries.count, 3)
        let pool = await eventually {
            let (_, data) = (try? await self.call("GET", "/health", token: admin, started)) ?? (0, Data())
            let pools = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["pools"] as? [String: Any]
            return ((pools?["delivery"] as? [String: Any])?["ready"] as? Int) == 3
        }
        XCTAssertTrue(pool, "the gateway's pool follows")
        let (_, adminHealth) = try await call("GET", "/health", token: admin, started)
        let adminPools = try XCTUnwrap((try JSONSerialization.jsonObject(with: adminHealth) as? [String: Any])?["pools"] as? [String: Any])
        XCTAssertEqual(((adminPools["delivery"] as? [String: Any])?["members"] as? [Any])?.count, 3, "an admin sees each instance")
        let gatewayHealth = URL(string: "http://127.0.0.1:\(started.ports["gateway"]!)/health")!
        let (publicHealth, _) = try await URLSession.shared.data(from: gatewayHealth)
        let publicPools = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: publicHealth) as? [String: Any])?["pools"] as? [String: Any])
        XCTAssertNil((publicPools["delivery"] as? [String: Any])?["members"], "anyone else: how many, not where")
        XCTAssertEqual((publicPools["delivery"] as? [String: Any])?["instances"] as? Int, 3)
        var rentals: [String] = []
        for _ in 0..<30 {
            let (code, data) = try await call("POST", "/rentals", body: order, token: alice, started)
            XCTAssertEqual(code, 201)
            rentals.append(try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? String))
        }
        let exactlyOnce = await eventually(timeout: .seconds(30)) {
            let (_, data) = (try? await self.call("GET", "/deliveries?limit=500", token: admin, started)) ?? (0, Data())
            let all = ((try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []).compactMap { $0["rentalId"] as? String }
            return Set(all).isSuperset(of: rentals) && all.count == Set(all).count
        }
        XCTAssertTrue(exactlyOnce, "every order one delivery, none twice")
        var sharing = 0
        for row in deliveries {
            let port = row["port"] as? Int ?? 0
            let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
            let health = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let events = health?["events"] as? [String: Any]
            if (events?["handled"] as? Int ?? 0) > 0 { sharing += 1 }
        }
        XCTAssertGreaterThanOrEqual(sharing, 2, "the work is split between the instances")
        let scaledIn = try await ctl(["scale", "delivery=1"], started)
        XCTAssertEqual(scaledIn.status, 0, scaledIn.output)
        let remaining = try await instances(of: "delivery", started).count
        XCTAssertEqual(remaining, 1)

        // A rolling replacement of every service under load: no failed request.
        let loadJSON = started.directory.appendingPathComponent("load.json").path
        async let load = StartedUp.run(
            [
                "load", "--gateway", "http://127.0.0.1:\(started.ports["gateway"]!)", "--keys",
                started.data.appendingPathComponent("keys").path,
                "--rate", "40", "--duration", "12s", "--json", loadJSON, "--require-availability", "100",
            ], in: started.directory)
        let redeploy = try await ctl(["redeploy"], started)
        XCTAssertEqual(redeploy.status, 0, redeploy.output)
        XCTAssertTrue(redeploy.output.contains("rental → rental-2"), redeploy.output)
        let loaded = try await load
        XCTAssertEqual(loaded.status, 0, loaded.output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: loadJSON))) as? [String: Any])
        XCTAssertEqual(report["availabilityPercent"] as? Double, 100, "\(loaded.output)")
        XCTAssertEqual(report["requests"] as? Int, 480)

        let unknown = try await ctl(["stop", "nope"], started)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.output.contains("no part 'nope'"), unknown.output)
        let badScale = try await ctl(["scale", "gateway=2"], started)
        XCTAssertTrue(badScale.output.contains("only a service scales"), badScale.output)
    }

    func testCtlSaysSoWhenNoUpRuns() async throws {
        let directory = try TemporaryDirectory.make(prefix: "ctl-none")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (code, output) = try await StartedUp.run(["ctl", "status", "--data", directory.path], in: directory)
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(output.contains("no `bookdelivery up` runs with --data"), output)
    }
}
