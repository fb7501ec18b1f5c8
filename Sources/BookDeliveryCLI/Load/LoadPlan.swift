import AsyncHTTPClient
import Foundation
import Identity
import NIOCore
import RentalService

/// What `bookdelivery load` sends: the customers' tokens, minted with the gateway's signing key,
/// and books with copies enough for every order (registered by an admin token when the catalogue
/// has none), taken in turn.
struct LoadPlan: Sendable {
    static let bookTitle = "Load test book"

    let gateway: String
    let tokens: [String]
    let bookIds: [String]

    static func prepare(gateway: String, keys: String, customers: Int, orders: Int, http: HTTPClient) async throws -> LoadPlan {
        let issuer: TokenIssuer
        do { issuer = try KeyDirectory(path: keys).issuer() } catch {
            throw LoadError(description: "--keys \(keys): \(error) (the key directory `up` made is .data/keys)")
        }
        var tokens: [String] = []
        for index in 1...customers {
            tokens.append(try await issuer.token(subject: "load-customer-\(index)", role: .customer, lifetime: .seconds(3600)))
        }
        let admin = try await issuer.token(subject: "load-admin", role: .admin, lifetime: .seconds(600))
        return LoadPlan(
            gateway: gateway, tokens: tokens, bookIds: try await books(orders: orders, gateway: gateway, admin: admin, http: http))
    }

    /// The copies of each new book for `orders` orders taken in turn: twice as many as needed, at
    /// least 1,000, in as few books as Rental registers (at most 100,000 copies each). One book
    /// made `load --rate 1000 --duration 60s` ask for 120,000 copies, and Rental refused it.
    static func copiesOfNewBooks(orders: Int) -> [Int] {
        let wanted = max(1_000, orders * 2)
        let count = (wanted + Book.registrableCopies.upperBound - 1) / Book.registrableCopies.upperBound
        return Array(repeating: (wanted + count - 1) / count, count: count)
    }

    /// Load-test books for `orders` orders, taken in turn: one already there with a copy for each,
    /// or new ones (``copiesOfNewBooks(orders:)``).
    private static func books(orders: Int, gateway: String, admin: String, http: HTTPClient) async throws -> [String] {
        struct Listed: Decodable {
            var id: String
            var title: String
            var available: Int
        }
        var search = HTTPClientRequest(url: "\(gateway)/books?limit=100&q=Load%20test")
        search.headers.add(name: "Authorization", value: "Bearer \(admin)")
        let found = try await call(search, http: http)
        if found.status == 200, let books = try? JSONDecoder().decode([Listed].self, from: found.body),
            let book = books.first(where: { $0.title == bookTitle && $0.available >= orders })
        {
            return [book.id]
        }
        var ids: [String] = []
        for copies in copiesOfNewBooks(orders: orders) {
            ids.append(try await register(copies: copies, gateway: gateway, admin: admin, http: http))
        }
        return ids
    }

    private static func register(copies: Int, gateway: String, admin: String, http: HTTPClient) async throws -> String {
        struct Registered: Decodable { var id: String }
        var register = HTTPClientRequest(url: "\(gateway)/books")
        register.method = .POST
        register.headers.add(name: "Authorization", value: "Bearer \(admin)")
        register.headers.add(name: "Content-Type", value: "application/json")
        let body = ["title": bookTitle, "author": "bookdelivery load", "copies": copies] as [String: any Sendable]
        register.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let registered = try await call(register, http: http)
        guard registered.status == 201, let book = try? JSONDecoder().decode(Registered.self, from: registered.body) else {
            throw LoadError(
                description: "cannot register the load test book: \(registered.status) \(String(decoding: registered.body, as: UTF8.self))")
        }
        return book.id
    }

    private static func call(_ request: HTTPClientRequest, http: HTTPClient) async throws -> (status: Int, body: Data) {
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            return (Int(response.status.code), Data((try await response.body.collect(upTo: 1 << 22)).readableBytesView))
        } catch {
            throw LoadError(description: "the gateway at \(request.url) does not answer: \(error)")
        }
    }

    /// The book ordered if request `index` is an order: the books in turn, order after order
    /// (`index / actions.count`: with `index` itself, a mix of three and three books ordered one).
    func book(ofRequest index: Int, of actions: [LoadCommand.Action]) -> String {
        bookIds[(index / actions.count) % bookIds.count]
    }

    /// Request `index`: the action `index % actions.count` of the mix, by customer `index % customers`.
    func request(_ index: Int, of actions: [LoadCommand.Action]) -> HTTPClientRequest {
        let customer = index % tokens.count
        var request: HTTPClientRequest
        switch actions[index % actions.count] {
        case .order:
            request = HTTPClientRequest(url: "\(gateway)/rentals")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Idempotency-Key", value: UUID().uuidString.lowercased())
            let book = book(ofRequest: index, of: actions)
            request.body = .bytes(ByteBuffer(string: #"{"bookId":"\#(book)","address":"1 Load Street"}"#))
        case .browse:
            request = HTTPClientRequest(url: "\(gateway)/books?limit=20")
        case .view:
            request = HTTPClientRequest(url: "\(gateway)/customers/load-customer-\(customer + 1)/rentals?limit=20")
        }
        request.headers.add(name: "Authorization", value: "Bearer \(tokens[customer])")
        return request
    }
}
