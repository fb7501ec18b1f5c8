import ArgumentParser
import Bus
import Contracts
import Foundation
import Histogram
import Identity
import NIOCore
import NIOHTTP1
import NIOPosix
import Primitives
import ProcessSupport
import Redis

/// What customers do: order a book (with a token and an Idempotency-Key, as the web app does), and
/// look at the rental's view a little later.
struct Workload: Sendable {
    static let orderRoute = "POST /rentals"
    static let readRoute = "GET /rentals/{id}"

    var rentalPort: Int
    var lookupPort: Int
    var gatewayPort: Int
    let books: [String]
    /// `Bearer …` for each customer.
    let customers: [String]
    let generator: LoadGenerator

    /// Registers books with plenty of copies, mints customers' tokens, opens the connections.
    static func prepare(system: SystemUnderTest, generator: LoadGenerator, connections: Int) async throws -> Workload {
        let issuer = try system.keys.issuer()
        let admin = "Bearer " + (try await issuer.token(subject: "benchmark", role: .admin))
        var customers: [String] = []
        for index in 0..<1000 { customers.append("Bearer " + (try await issuer.token(subject: "customer-\(index)", role: .customer))) }
        let rental = system.port("rental")
        try await generator.keepOpen(port: rental, count: connections)
        let books = Shared([String]())
        _ = try await generator.openLoop(rate: 100, duration: .milliseconds(100)) { index, intended in
            var headers: HTTPHeaders = ["authorization": admin, "content-type": "application/json"]
            headers.add(name: "idempotency-key", value: UUIDv7.string())
            return PlannedRequest(
                route: "POST /books", port: rental, method: .POST, path: "/books", headers: headers,
                body: ByteBuffer(string: #"{"title": "Benchmark \#(index)", "author": "A. Writer", "copies": 100000}"#),
                intended: intended,
                onAnswer: { status, body, _ in if status == 201, let id = Self.id(in: body) { books.update { $0.append(id) } } })
        }
        guard books.value.count == 10 else { throw BenchmarkError("could not register the books") }
        return Workload(
            rentalPort: rental, lookupPort: system.port("lookup"), gatewayPort: system.port("gateway"), books: books.value,
            customers: customers, generator: generator)
    }

    /// `count` open connections to each service's port, before a phase, and twice as many to the
    /// gateway's, which carries the orders and the reads: either path has as many connections in
    /// all. (With `count` to the gateway too, the open loop through it had half the connections of
    /// the straight one, and at half the saturation its requests queued for a connection.)
    func connect(_ count: Int) async throws {
        for port in [rentalPort, lookupPort] { try await generator.keepOpen(port: port, count: count) }
        try await generator.keepOpen(port: gatewayPort, count: 2 * count)
    }

    /// An order by a customer chosen at random; with `readAfter`, a read of its view that long after the answer.
    func order(direct: Bool, intended: NIODeadline, readAfter: TimeAmount? = nil) -> PlannedRequest {
        let customer = customers.randomElement()!
        var headers: HTTPHeaders = ["authorization": customer, "content-type": "application/json"]
        headers.add(name: "idempotency-key", value: UUIDv7.string())
        let body = ByteBuffer(string: #"{"bookId": "\#(books.randomElement()!)", "address": "12 Rue des Lilas, Lyon"}"#)
        let lookupPort = direct ? lookupPort : gatewayPort
        var request = PlannedRequest(
            route: Self.orderRoute, port: direct ? rentalPort : gatewayPort, method: .POST, path: "/rentals", headers: headers, body: body,
            intended: intended)
        if let readAfter {
            let generator = self.generator
            request.onAnswer = { status, body, _ in
                guard status == 201, let id = Self.id(in: body) else { return }
                generator.schedule(
                    PlannedRequest(
                        route: Self.readRoute, port: lookupPort, method: .GET, path: "/rentals/\(id)",
                        headers: ["authorization": customer], intended: .now() + readAfter))
            }
        }
        return request
    }

    /// The `"id"` of a JSON answer.
    static func id(in body: ByteBuffer) -> String? {
        let text = String(buffer: body)
        guard let range = text.range(of: #""id":""#) ?? text.range(of: #""id" : ""#) else { return nil }
        return String(text[range.upperBound...].prefix(while: { $0 != "\"" }))
    }
}

/// A progress line on standard error, unbuffered, while the table waits for the end.
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
