import HTTPTypes
import Hummingbird
import Synchronization

/// Answers a known path asked with a method it does not take with 405 and `Allow`, where the router
/// alone would say 404. It learns the routes once they are all added (``learn(_:)``).
public final class MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware, Sendable {
    /// Each route's path segments (`{id}` and `*` match any segment) and its methods.
    private let routes = Mutex<[(segments: [Substring], methods: Set<HTTPRequest.Method>)]>([])

    public init() {}

    /// Takes the routes of `router`, after every route has been added.
    public func learn(_ router: Router<Context>) {
        var table: [String: Set<HTTPRequest.Method>] = [:]
        for route in router.routes {
            table[route.path.description, default: []].insert(route.method)
        }
        routes.withLock { $0 = table.map { (Self.segments($0.key), $0.value) } }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = allowedMethods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method), !(request.method == .head && allowed.contains(.get)) else {
                throw error
            }
            throw APIError.methodNotAllowed(request.method, allowed: allowed)
        }
    }

    /// The methods of every route whose path matches `path`.
    func allowedMethods(for path: String) -> Set<HTTPRequest.Method> {
        let requested = Self.segments(path)
        return routes.withLock { routes in
            routes.filter { route in
                route.segments.count == requested.count
                    && zip(route.segments, requested).allSatisfy { pattern, segment in
                        pattern == "*" || (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == segment
                    }
            }
            .reduce(into: Set<HTTPRequest.Method>()) { $0.formUnion($1.methods) }
        }
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}
