import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// Where a page ends: the sort key and the id of its last item. Opaque to clients (base64url).
public struct PageCursor: Sendable, Equatable {
    public var position: String
    public var id: String

    public init(position: String, id: String) {
        self.position = position
        self.id = id
    }

    init?(encoded: String) {
        guard encoded.utf8.count <= 512, let data = Base64URL.decode(Substring(encoded)), let text = String(data: data, encoding: .utf8)
        else {
            return nil
        }
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        self.init(position: String(parts[0]), id: String(parts[1]))
    }

    public var encoded: String { Base64URL.encode(Data("\(position)\n\(id)".utf8)) }
}

/// `?limit=` (1 to 500) and `?cursor=` of a list request. Lists are keyset-paginated: a page is
/// what comes after the cursor in the list's order, so items added meanwhile never shift a page.
public struct PageRequest: Sendable {
    public static let maximumLimit = 500
    public var limit: Int
    public var after: PageCursor?

    public init(limit: Int, after: PageCursor? = nil) {
        self.limit = limit
        self.after = after
    }

    /// The page `request` asks for. `isOwnCursor` says whether a cursor has the shape of the list's
    /// own (a number where the list sorts by one, say), so that the store below gets only those and
    /// a forged one is a 400 here.
    public init(_ request: Request, defaultLimit: Int = 100, isOwnCursor: (PageCursor) -> Bool = { _ in true }) throws {
        let query = request.uri.queryParameters
        limit = try Validate.limit(query.get("limit"), default: defaultLimit, maximum: Self.maximumLimit)
        after = try query.get("cursor").map { text in
            guard let cursor = PageCursor(encoded: text), isOwnCursor(cursor) else {
                throw APIError.badRequest("'cursor' is not one this API gave out")
            }
            return cursor
        }
    }

    /// The page of `fetched` (fetched with `limit + 1`, so that a next page shows): the first
    /// `limit` items, answered as a JSON array with `Link: <…>; rel="next"` (RFC 8288) when more follow.
    public func page<Item, Output: Encodable & Sendable>(
        _ fetched: [Item], for request: Request, cursor: (Item) -> PageCursor, map: (Item) -> Output
    ) -> Page<Output> {
        let items = fetched.prefix(limit)
        let next = fetched.count > limit ? items.last.map(cursor) : nil
        return Page(items: items.map(map), next: next.map { Self.link(for: request, cursor: $0) })
    }

    private static func link(for request: Request, cursor: PageCursor) -> String {
        var components = URLComponents()
        components.path = request.uri.path
        var items = request.uri.queryParameters.filter { $0.key != "cursor" }.map {
            URLQueryItem(name: String($0.key), value: String($0.value).removingPercentEncoding ?? String($0.value))
        }
        items.sort { $0.name < $1.name }
        items.append(URLQueryItem(name: "cursor", value: cursor.encoded))
        components.queryItems = items
        return "<\(components.string ?? request.uri.path)>; rel=\"next\""
    }
}

/// One page of a list: a JSON array, and the next page's address in `Link` when there is one.
public struct Page<Item: Encodable & Sendable>: ResponseGenerator, Sendable {
    public var items: [Item]
    /// The `Link` header value; nil on the last page.
    public var next: String?

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let next { headers[.link] = next }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(items))))
    }
}

extension HTTPField.Name {
    public static let link = HTTPField.Name("Link")!
}
