import AsyncHTTPClient
import Foundation
import Identity
import NIOCore

/// What `bookdelivery load` sends: the customers' tokens, minted with the gateway's signing key,
/// and a book with copies enough for every order (registered by an admin token when the catalogue
/// has none).
struct LoadPlan: Sendable {
    static let bookTitle = "Load test book"

    let gateway: String
    let tokens: [String]
    let bookId: String

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
            gateway: gateway, tokens: tokens, bookId: try await book(copies: orders, gateway: gateway, admin: admin, http: http))
    }

    /// A load-test book with at least `copies` available: one already there, or a new one.
    private static func book(copies: Int, gateway: String, admin: String, http: HTTPClient) async throws -> String {
        struct Book: Decodable {
            var id: String
            var title: String
            var available: Int
        }
        var search = HTTPClientRequest(url: "\(gateway)/books?limit=100&q=Load%20test")
        search.headers.add(name: "Authorization", value: "Bearer \(admin)")
        let found = try await call(search, http: http)
        if found.status == 200, let books = try? JSONDecoder().decode([Book].self, from: found.body),
            let book = books.first(where: { $0.title == bookTitle && $0.available >= copies })
        {
            return book.id
        }
        var register = HTTPClientRequest(url: "\(gateway)/books")
        register.method = .POST
        register.headers.add(name: "Authorization", value: "Bearer \(admin)")
        register.headers.add(name: "Content-Type", value: "application/json")
        let body = ["title": bookTitle, "author": "bookdelivery load", "copies": max(1_000, copies * 2)] as [String: any Sendable]
        register.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let registered = try await call(register, http: http)
        guard registered.status == 201, let book = try? JSONDecoder().decode(Book.self, from: registered.body) else {
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

    /// Request `index`, by customer `index % customers`.
    func request(_ index: Int, action: LoadCommand.Action) -> HTTPClientRequest {
        let customer = index % tokens.count
        var request: HTTPClientRequest
        switch action {
        case .order:
            request = HTTPClientRequest(url: "\(gateway)/rentals")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Idempotency-Key", value: UUID().uuidString.lowercased())
            request.body = .bytes(ByteBuffer(string: #"{"bookId":"\#(bookId)","address":"1 Load Street"}"#))
        case .browse:
            request = HTTPClientRequest(url: "\(gateway)/books?limit=20")
        case .view:
            request = HTTPClientRequest(url: "\(gateway)/customers/load-customer-\(customer + 1)/rentals?limit=20")
        }
        request.headers.add(name: "Authorization", value: "Bearer \(tokens[customer])")
        return request
    }
}
