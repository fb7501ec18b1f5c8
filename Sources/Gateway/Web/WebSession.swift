import Foundation
import HTTPTypes
import Hummingbird
import Identity

/// A signed-in person in the web app: the token they signed in with, kept in a cookie that scripts
/// cannot read (`HttpOnly`) and that other sites' pages do not send (`SameSite=Strict`), sent on
/// only to the gateway itself. The web app calls the API with it, under the same rules as any client.
struct WebSession: Sendable {
    static let cookieName = "bookdelivery_session"

    var token: String
    var caller: Caller

    /// The session token of the request's cookies, unverified.
    static func token(in headers: HTTPFields) -> String? {
        let value = Cookies(from: headers[values: .cookie])[cookieName]?.value.trimmingCharacters(in: .whitespaces) ?? ""
        return value.isEmpty ? nil : value
    }

    /// The `Set-Cookie` value that keeps `token` until the browser closes (or for `maxAge` seconds);
    /// `Secure` when the request came over HTTPS (through a TLS-terminating proxy). The token's own
    /// expiry still applies: an expired one sends the person back to the sign-in page. Nil for a
    /// value a cookie cannot carry (RFC 6265), which could otherwise add attributes.
    static func cookie(_ token: String, maxAge: Int? = nil, secure: Bool) -> String? {
        try? Cookie.validated(
            name: cookieName, value: token, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .strict
        ).description
    }

    static func clearingCookie(secure: Bool) -> String { cookie("", maxAge: 0, secure: secure) ?? "\(cookieName)=; Max-Age=0; Path=/" }

    static func isSecure(_ request: Request) -> Bool { request.headers[forwardedProto]?.lowercased() == "https" }

    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// Whether a form post comes from the gateway's own pages: its `Origin` (or, without one, the
    /// browser's `Sec-Fetch-Site`) must say so. With the `SameSite=Strict` cookie this keeps other
    /// sites from acting for a signed-in person.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let origin = request.headers[.origin] {
            guard let host = request.head.authority else { return false }
            return origin == "http://\(host)" || origin == "https://\(host)"
        }
        if let site = request.headers[secFetchSite] { return site == "same-origin" || site == "none" }
        return true
    }
}

/// The fields of an `application/x-www-form-urlencoded` body.
struct FormFields: Sendable {
    static let maximumSize = 16 * 1024
    private var values: [String: String] = [:]

    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let name = decode(parts[0])
            if values[name] == nil { values[name] = parts.count > 1 ? decode(parts[1]) : "" }
        }
    }

    static func read(_ request: Request) async throws -> FormFields {
        let buffer = try await request.body.collect(upTo: maximumSize)
        return FormFields(String(buffer: buffer))
    }

    subscript(_ name: String) -> String? { values[name] }

    /// The value with surrounding white space removed; nil when empty.
    func text(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }
}
