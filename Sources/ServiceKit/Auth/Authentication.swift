import Hummingbird
import Identity

/// How a process checks who is calling: with the public keys of a key directory, or not at all
/// (`--no-auth`, for tests and benchmarks: every request is then an admin's).
public enum Authentication: Sendable {
    case tokens(TokenVerifier)
    case disabled

    /// The caller a request's `Authorization` header names: nil without one; a 401 for anything
    /// but a bearer token that verifies.
    public func caller(authorization: String?) async throws -> Caller? {
        guard case .tokens(let verifier) = self else { return .noAuthAdmin }
        guard let authorization else { return nil }
        // On every request: bytes, not Characters (a token is ASCII; grapheme breaking and
        // Foundation's trimming were a few percent of a read).
        let utf8 = authorization.utf8
        let prefix = "bearer ".utf8
        guard utf8.count > prefix.count, zip(utf8, prefix).allSatisfy({ (65...90).contains($0) ? $0 | 0x20 == $1 : $0 == $1 }) else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'", invalidToken: true)
        }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var token = utf8.dropFirst(prefix.count)
        while let first = token.first, isBlank(first) { token = token.dropFirst() }
        while let last = token.last, isBlank(last) { token = token.dropLast() }
        do {
            return try await verifier.verify(Substring(token))
        } catch {
            throw APIError.unauthorized("invalid token: \(error)", invalidToken: true)
        }
    }
}

/// Puts the verified caller into the context. It only authenticates: each handler says who may
/// use it (``ServiceRequestContext/require(_:)``).
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = ServiceRequestContext
    let authentication: Authentication

    public init(_ authentication: Authentication) { self.authentication = authentication }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Probes and metrics stay open on each service's own port (the gateway does not route them).
        if request.method == .get, ["/health", "/metrics", "/live", "/ready"].contains(request.uri.path) {
            return try await next(request, context)
        }
        var context = context
        context.caller = try await authentication.caller(authorization: request.headers[.authorization])
        return try await next(request, context)
    }
}
