import Foundation
import Identity
import ProcessSupport
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The authorization table, row by row, through the gateway and straight at each service, with
/// tokens from `bookdelivery token` and real processes.
final class GatewayAuthorizationTests: XCTestCase {
    func testEveryRowOfTheAuthorizationTableThroughTheGatewayAndStraightAtEachService() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        try await cluster.startGateway(["--rate-limit", "0"])
        let alice = try await cluster.token("alice", "customer")
        let bob = try await cluster.token("bob", "customer")
        let courier = try await cluster.token("courier-1", "courier")
        let admin = try await cluster.token("admin", "admin")

        func expect(
            _ status: Int, _ method: String, _ path: String, _ token: String?, json: [String: any Sendable]? = nil,
            at target: String = "gateway",
            file: StaticString = #filePath, line: UInt = #line
        ) async throws -> Exchange {
            let exchange = try await cluster.send(target, method, path, token: token, json: json)
            XCTAssertEqual(exchange.status, status, "\(method) \(path) at \(target): \(exchange.text)", file: file, line: line)
            if status == 401 {
                XCTAssertEqual(exchange.header("WWW-Authenticate")?.hasPrefix("Bearer"), true, file: file, line: line)
            }
            return exchange
        }

        // Books: anyone reads; only an admin registers.
        let book = ["title": "Dune", "author": "Frank Herbert", "copies": 5] as [String: any Sendable]
        _ = try await expect(401, "POST", "/books", nil, json: book)
        _ = try await expect(403, "POST", "/books", alice, json: book)
        _ = try await expect(403, "POST", "/books", courier, json: book)
        let registered = try await expect(201, "POST", "/books", admin, json: book).json() as? [String: Any]
        let bookId = try XCTUnwrap(registered?["id"] as? String)
        _ = try await expect(200, "GET", "/books", nil)
        _ = try await expect(200, "GET", "/books/\(bookId)", nil)

        // Ordering: for oneself only.
        let order = ["bookId": bookId, "address": "1 Main St"] as [String: any Sendable]
        _ = try await expect(401, "POST", "/rentals", nil, json: order)
        _ = try await expect(403, "POST", "/rentals", courier, json: order)
        _ = try await expect(403, "POST", "/rentals", alice, json: order.merging(["customerId": "bob"]) { $1 })
        let ordered = try await expect(201, "POST", "/rentals", alice, json: order).json() as? [String: Any]
        XCTAssertEqual(ordered?["customerId"] as? String, "alice", "customerId omitted: the token's subject")
        let rentalId = try XCTUnwrap(ordered?["id"] as? String)
        let forCarol = try await expect(201, "POST", "/rentals", admin, json: order.merging(["customerId": "carol"]) { $1 }).json()
        XCTAssertEqual((forCarol as? [String: Any])?["customerId"] as? String, "carol", "an admin orders for anyone")

        // A rental: its customer's (and an admin's); for another customer it does not exist.
        _ = try await expect(200, "GET", "/rentals/\(rentalId)", alice)
        _ = try await expect(404, "GET", "/rentals/\(rentalId)", bob)
        _ = try await expect(403, "GET", "/rentals/\(rentalId)", courier)
        _ = try await expect(200, "GET", "/rentals/\(rentalId)", admin)
        _ = try await expect(401, "GET", "/rentals/\(rentalId)", nil)
        let aliceList = try await expect(200, "GET", "/rentals?customerId=alice", alice).json() as? [[String: Any]]
        XCTAssertEqual(aliceList?.map { $0["id"] as? String }, [rentalId])
        _ = try await expect(403, "GET", "/rentals?customerId=alice", bob)
        let bobsOwn = try await expect(200, "GET", "/rentals", bob).json() as? [Any]
        XCTAssertEqual(bobsOwn?.count, 0, "no customerId: one's own")
        _ = try await expect(403, "GET", "/rentals?customerId=alice", courier)

        // Lookup's views, once built from the events.
        let viewed = await eventually {
            let list = try? await cluster.send("gateway", "GET", "/customers/alice/rentals", token: alice).json() as? [[String: Any]]
            return list?.first?["deliveryStatus"] as? String == "ready" && list?.first?["fallback"] == nil
        }
        XCTAssertTrue(viewed, "alice sees her rental's view with its delivery status")
        _ = try await expect(403, "GET", "/customers/alice/rentals", bob)
        _ = try await expect(403, "GET", "/customers/alice/rentals", courier)
        _ = try await expect(200, "GET", "/customers/alice/rentals", admin)

        // Deliveries: couriers and admins only.
        _ = try await expect(403, "GET", "/deliveries", alice)
        _ = try await expect(401, "GET", "/deliveries", nil)
        let deliveries = try await expect(200, "GET", "/deliveries?rentalId=\(rentalId)", courier).json() as? [[String: Any]]
        let deliveryId = try XCTUnwrap(deliveries?.first?["id"] as? String)
        XCTAssertNotNil(deliveries?.first?["address"], "couriers see where to go")
        _ = try await expect(200, "GET", "/deliveries/\(deliveryId)", admin)
        _ = try await expect(403, "POST", "/deliveries/\(deliveryId)/start", alice)
        _ = try await expect(403, "POST", "/deliveries/\(deliveryId)/start", bob)

        // Cancel and return: one's own rental only.
        _ = try await expect(404, "POST", "/rentals/\(rentalId)/cancel", bob)
        _ = try await expect(403, "POST", "/rentals/\(rentalId)/cancel", courier)
        _ = try await expect(404, "POST", "/rentals/\(rentalId)/return", bob)
        _ = try await expect(200, "POST", "/deliveries/\(deliveryId)/start", courier)

        // Alerts: one's own and the promotions; all for an admin.
        let alerted = await eventually {
            let list = try? await cluster.send("gateway", "GET", "/alerts", token: alice).json() as? [[String: Any]]
            return Set(list?.compactMap { $0["kind"] as? String } ?? []) == ["new_book", "rental_status"]
        }
        XCTAssertTrue(alerted, "alice sees the new-book promotion and her own rental's alerts")
        let bobsAlerts = try await expect(200, "GET", "/alerts", bob).json() as? [[String: Any]]
        XCTAssertEqual(Set(bobsAlerts?.compactMap { $0["kind"] as? String } ?? []), ["new_book"], "not alice's rental alerts")
        _ = try await expect(403, "GET", "/alerts?customerId=alice", bob)
        _ = try await expect(403, "GET", "/alerts", courier)
        let all = try await expect(200, "GET", "/alerts", admin).json() as? [[String: Any]]
        XCTAssertTrue(all?.contains { $0["customerId"] as? String == "carol" } ?? false, "an admin sees everyone's alerts")

        // The same denials straight at each service: going around the gateway gains nothing.
        _ = try await expect(403, "POST", "/books", alice, json: book, at: "rental")
        _ = try await expect(401, "POST", "/rentals", nil, json: order, at: "rental")
        _ = try await expect(403, "POST", "/rentals", alice, json: order.merging(["customerId": "bob"]) { $1 }, at: "rental")
        _ = try await expect(404, "GET", "/rentals/\(rentalId)", bob, at: "rental")
        _ = try await expect(404, "POST", "/rentals/\(rentalId)/return", bob, at: "rental")
        _ = try await expect(403, "GET", "/rentals?customerId=alice", bob, at: "rental")
        _ = try await expect(403, "GET", "/deliveries", alice, at: "delivery")
        _ = try await expect(401, "GET", "/deliveries", nil, at: "delivery")
        _ = try await expect(403, "POST", "/deliveries/\(deliveryId)/complete", alice, at: "delivery")
        _ = try await expect(403, "GET", "/customers/alice/rentals", bob, at: "lookup")
        _ = try await expect(404, "GET", "/rentals/\(rentalId)", bob, at: "lookup")
        _ = try await expect(401, "GET", "/rentals/\(rentalId)", nil, at: "lookup")
        _ = try await expect(403, "GET", "/alerts?customerId=alice", bob, at: "notifier")
        _ = try await expect(401, "GET", "/alerts", nil, at: "notifier")
        _ = try await expect(200, "GET", "/books", nil, at: "rental")

        // Probes and metrics: open on each service's own port, not routed by the gateway.
        for service in ServiceCluster.services {
            _ = try await expect(200, "GET", "/health", nil, at: service)
            _ = try await expect(200, "GET", "/metrics", nil, at: service)
        }
        let metrics = try await cluster.text("gateway", "/metrics")
        XCTAssertTrue(metrics.contains(#"gateway_requests_total{route="GET /books",status="200"}"#), metrics)
        XCTAssertTrue(metrics.contains("gateway_breaker_state"), "breaker states")
        XCTAssertTrue(metrics.contains(#"gateway_rejections_total{reason="unauthorized""#), "rejections by reason")
    }

    func testForgedExpiredAndForeignTokensAreRefused() async throws {
        let cluster = try await ServiceCluster.start(secured: true)
        try await cluster.startGateway()
        let keys = KeyDirectory(path: cluster.keys!)
        let issuer = try keys.issuer()
        let good = try await cluster.token("alice", "customer")
        let parts = good.split(separator: ".").map(String.init)
        let admin = try await issuer.token(subject: "alice", role: .admin).split(separator: ".").map(String.init)
        let noneHeader = Data(#"{"alg":"none","typ":"JWT","kid":"\#(issuer.kid)"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
        let stranger = cluster.directory.appendingPathComponent("stranger").path
        try await cluster.run(["keys", "--dir", stranger])
        var wrongAudience = TokenClaims(subject: "alice", role: .customer, issuedAt: Date(), expiresAt: Date().addingTimeInterval(600))
        wrongAudience.aud.value = ["another-api"]
        let refused: [(String, String)] = [
            ("a bad signature", [parts[0], admin[1], parts[2]].joined(separator: ".")),
            ("alg none", "\(noneHeader).\(admin[1])."),
            (
                "a key from another key pair",
                try await cluster.run(["token", "--keys", stranger, "--subject", "alice", "--role", "customer"])
            ),
            (
                "an expired token",
                try await issuer.token(subject: "alice", role: .customer, lifetime: .seconds(60), now: Date().addingTimeInterval(-7200))
            ),
            ("the wrong audience", try await issuer.sign(wrongAudience)),
        ]
        for (what, token) in refused {
            for target in ["gateway", "rental"] {
                let exchange = try await cluster.send(
                    target, "GET", "/rentals", token: token.trimmingCharacters(in: .whitespacesAndNewlines))
                XCTAssertEqual(exchange.status, 401, "\(what) at \(target): \(exchange.text)")
                XCTAssertEqual(exchange.header("WWW-Authenticate")?.contains("invalid_token"), true, what)
            }
        }
        let accepted = try await cluster.send("gateway", "GET", "/rentals", token: good)
        XCTAssertEqual(accepted.status, 200, "the good token passes: \(accepted.text)")
    }

    func testAServiceWithoutKeysRefusesToStartAndSaysWhy() async throws {
        let cluster = try await ServiceCluster.start()
        let log = cluster.directory.appendingPathComponent("nokeys.log").path
        let process = try ChildProcess(
            executable: cluster.executable, arguments: ["rental", "--port", String(try TCPPort.free()), "--redis", cluster.redis.url],
            logFile: log)
        let exited = await process.exit(within: .seconds(20))
        XCTAssertTrue(exited)
        XCTAssertNotEqual(process.wait(), 0)
        let said = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(said.contains("--keys") && said.contains("--no-auth"), said)
    }
}
