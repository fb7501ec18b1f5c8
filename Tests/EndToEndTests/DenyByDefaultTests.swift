import DeliveryService
import Foundation
import Hummingbird
import HummingbirdTesting
import Identity
import Logging
import LookupService
import NotifierService
import Redis
import RentalService
import ServiceKit
import TestSupport
import XCTest

/// Deny by default (OWASP API5): every route of every service, as its router lists them, answers
/// 401 without a token, except the few that are public by design. A route added without saying
/// who may use it fails here.
final class DenyByDefaultTests: XCTestCase {
    static let publicRoutes: Set<String> = [
        "GET /books", "GET /books/{id}", "GET /health", "GET /metrics", "GET /live", "GET /ready",
    ]

    func testEveryRouteButThePublicOnesNeedsAToken() async throws {
        let directory = try TemporaryDirectory.make(prefix: "deny")
        defer { try? FileManager.default.removeItem(at: directory) }
        let keys = KeyDirectory(path: directory.appendingPathComponent("keys").path)
        try keys.create()
        let authentication = Authentication.tokens(try await keys.verifier())
        let path = { (name: String) in directory.appendingPathComponent("\(name).sqlite").path }
        // Lookup's Redis is never reached: every request here stops at authentication or is public.
        let pool = RedisClientPool(endpoint: RedisEndpoint(port: 1), size: 1, logger: Logger(label: "test"))
        let routers: [(String, Router<ServiceRequestContext>)] = [
            (
                "rental",
                RentalApplication.buildRouter(
                    store: try RentalStore.open(path: path("rental")), wiring: ServiceWiring(authentication: authentication))
            ),
            (
                "delivery",
                DeliveryApplication.buildRouter(
                    store: try DeliveryStore.open(path: path("delivery")), wiring: ServiceWiring(authentication: authentication))
            ),
            (
                "lookup",
                LookupApplication.buildRouter(views: RentalViewStore(pool: pool), wiring: ServiceWiring(authentication: authentication))
            ),
            (
                "notifier",
                NotifierApplication.buildRouter(
                    store: try AlertStore.open(path: path("notifier")), wiring: ServiceWiring(authentication: authentication))
            ),
        ]
        var checked = 0
        for (service, router) in routers {
            checked += router.routes.count
            let routes = router.routes.map { ($0.method, $0.path.description) }
            try await Application(router: router).test(.router) { client in
                for (method, template) in routes {
                    let name = "\(method.rawValue) \(template)"
                    let uri = template.replacingOccurrences(of: "{id}", with: UUID().uuidString)
                        .replacingOccurrences(of: "{customerId}", with: "alice")
                    let response = try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "{}"))
                    if Self.publicRoutes.contains(name) {
                        XCTAssertNotEqual(response.status, .unauthorized, "\(service): \(name) is public")
                    } else {
                        XCTAssertEqual(response.status, .unauthorized, "\(service): \(name) must need a token")
                        XCTAssertNotNil(response.headers[.wwwAuthenticate], "\(service): \(name)")
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 20, "every service's routes were walked")
    }
}
