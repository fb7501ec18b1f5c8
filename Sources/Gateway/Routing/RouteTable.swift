import Foundation
import HTTPTypes

/// The public API, route by route: which pool serves it, whether it needs a token, how long it may
/// take and how big its body may be, and what answers when its pool cannot.
struct Route: Sendable {
    enum Fallback: Sendable {
        case none
        /// The last good copy of the same address, marked stale (the book catalogue).
        case staleCopy
        /// Rental's own record of the rental(s), marked as a fallback (delivery status unknown),
        /// at the address `target` builds from the path's parameters and the query.
        case rentalRecords(target: @Sendable (_ parameters: [String], _ query: String) -> String)
    }

    var method: HTTPRequest.Method
    /// Path segments; `{}` matches one segment.
    var segments: [String]
    var upstream: Upstream
    /// Served without a token (the catalogue).
    var isPublic = false
    var timeout: Duration
    var maximumBody: Int
    var fallback = Fallback.none

    /// For metrics and logs: the route's template, e.g. `GET /rentals/{}`.
    var name: String { "\(method.rawValue) /\(segments.joined(separator: "/"))" }
}

/// A path segment (percent-encoded as it came) as a query value: decoded, then encoded for a query,
/// so that `&`, `=`, `+` or `#` in a customer id cannot add parameters.
func queryValue(_ segment: String) -> String {
    (segment.removingPercentEncoding ?? segment).addingPercentEncoding(withAllowedCharacters: .queryValueAllowed) ?? ""
}

extension CharacterSet {
    /// What a query parameter's value may hold unencoded: not `&`, `=`, `+` or `#`, which would end it,
    /// start another or read as a space.
    static let queryValueAllowed = CharacterSet.urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#"))
}

struct RouteTable: Sendable {
    static let readTimeout: Duration = .seconds(5)
    static let writeTimeout: Duration = .seconds(10)
    static let maximumBody = 64 * 1024

    let routes: [Route]

    enum Match {
        case route(Route, parameters: [String])
        /// A known path asked with another method.
        case methodNotAllowed(allowed: [HTTPRequest.Method])
        case notFound
    }

    static let standard = RouteTable(routes: [
        read(["books"], .rental, isPublic: true, fallback: .staleCopy),
        read(["books", "{}"], .rental, isPublic: true, fallback: .staleCopy),
        write(["books"], .rental),
        write(["rentals"], .rental),
        read(["rentals"], .rental),
        read(["rentals", "{}"], .lookup, fallback: .rentalRecords { parameters, _ in "/rentals/\(parameters[0])" }),
        write(["rentals", "{}", "cancel"], .rental),
        write(["rentals", "{}", "return"], .rental),
        read(
            ["customers", "{}", "rentals"], .lookup,
            fallback: .rentalRecords { parameters, query in
                // The same page size; Lookup's cursor means nothing to Rental.
                let limit = query.split(separator: "&").first { $0.hasPrefix("limit=") }.map { "&\($0)" } ?? ""
                return "/rentals?customerId=\(queryValue(parameters[0]))\(limit)"
            }),
        read(["deliveries"], .delivery),
        read(["deliveries", "{}"], .delivery),
        write(["deliveries", "{}", "start"], .delivery),
        write(["deliveries", "{}", "complete"], .delivery),
        read(["alerts"], .notifier),
    ])

    /// Routes only the web app calls, on a signed-in admin's behalf; never matched for a client
    /// (the public table has none of them, so `/dead-letters/…` answers 404 there). Re-driving a
    /// group's dead letters goes to the service that owns the group (``DeadLetterReplay``): the
    /// gateway itself may not write a stream.
    static let webApp = RouteTable(
        routes: Upstream.allCases.map { upstream in write(["dead-letters", upstream.rawValue, "{}", "redrive"], upstream) })

    private static func read(_ segments: [String], _ upstream: Upstream, isPublic: Bool = false, fallback: Route.Fallback = .none) -> Route
    {
        Route(
            method: .get, segments: segments, upstream: upstream, isPublic: isPublic, timeout: readTimeout, maximumBody: 0,
            fallback: fallback)
    }

    private static func write(_ segments: [String], _ upstream: Upstream) -> Route {
        Route(method: .post, segments: segments, upstream: upstream, timeout: writeTimeout, maximumBody: maximumBody)
    }

    /// The route for `method` and `path` (without its query), with the path's parameters as sent
    /// (still percent-encoded: they are forwarded as they came).
    func match(_ method: HTTPRequest.Method, _ path: Substring) -> Match {
        let requested = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), !requested.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else { return .notFound }
        var allowed: [HTTPRequest.Method] = []
        for route in routes where route.segments.count == requested.count {
            var parameters: [String] = []
            let matches = zip(route.segments, requested).allSatisfy { pattern, segment in
                if pattern == "{}" {
                    parameters.append(String(segment))
                    return true
                }
                return pattern == segment
            }
            guard matches else { continue }
            if route.method == method || (method == .head && route.method == .get) { return .route(route, parameters: parameters) }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }
}
