import Hummingbird
import Identity

/// The request context of every service: Hummingbird's core storage plus who is calling.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthenticationMiddleware`` from a verified token; nil for an anonymous request.
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        caller = nil
    }

    /// The caller, if its role is one of `roles`: deny by default, so every handler that is not
    /// public names who may use it. No token → 401 with `WWW-Authenticate: Bearer`; a role not
    /// named → 403.
    public func require(_ roles: Role...) throws -> Caller {
        guard let caller else { throw APIError.unauthorized("a bearer token is required") }
        guard roles.contains(caller.role) else {
            throw APIError(.forbidden, "a \(caller.role.rawValue) may not do this")
        }
        return caller
    }
}

extension APIError {
    /// 401 with the challenge RFC 6750 asks for.
    public static func unauthorized(_ message: String, invalidToken: Bool = false) -> APIError {
        let challenge = invalidToken ? #"Bearer realm="bookdelivery", error="invalid_token""# : #"Bearer realm="bookdelivery""#
        return APIError(.unauthorized, message, headers: [.wwwAuthenticate: challenge])
    }
}

extension Caller {
    /// The customer id a customer's request is about: its own when the request names none, a 403
    /// when it names someone else. Admins name anyone (and must name someone).
    public func customerId(asked: String?, field: String = "customerId") throws -> String {
        switch role {
        case .customer:
            guard asked == nil || asked == subject else { throw APIError(.forbidden, "a customer may only act for itself") }
            return subject
        case .admin:
            guard let asked else { throw APIError.badRequest("missing field '\(field)'") }
            return asked
        case .courier:
            throw APIError(.forbidden, "a courier may not do this")
        }
    }

    /// Whether this caller may see what belongs to `customerId`. Callers that may not are told the
    /// thing does not exist (404), so ids cannot be probed (OWASP API1).
    public func mayRead(customerId: String) -> Bool {
        role == .admin || (role == .customer && subject == customerId)
    }
}

extension Caller {
    /// The one customer whose things this caller may touch, or nil for an admin (anyone's).
    public var restrictedToCustomer: String? { role == .admin ? nil : subject }
}
