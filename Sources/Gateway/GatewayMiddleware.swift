import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import NIOHTTP1
import ServiceKit

/// The gateway's work for every request of the public API: match the route (404, 405 + `Allow`),
/// check the token (401), apply the subject's rate limit (429), read the body within its limit
/// (413), forward to the route's pool (503 when it sheds load, its breaker is open or no instance
/// is ready; 504 past the route's time; 502 when the exchange breaks), and step in with a fallback
/// where a route has one. Every answer carries `X-Request-Id`; every error is `{"error": …}`.
struct GatewayMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let table: RouteTable
    let pools: [Upstream: InstancePool]
    let forwarder: Forwarder
    let authentication: Authentication
    let rateLimiter: TokenBucketLimiter?
    let staleCopies: StaleCopies

    static let requestIdHeader = HTTPField.Name("X-Request-Id")!
    static let fallbackHeader = HTTPField.Name("X-Fallback")!
    static let staleHeader = HTTPField.Name("X-Stale")!
    static let rateLimitHeader = HTTPField.Name("RateLimit")!
    static let rateLimitPolicyHeader = HTTPField.Name("RateLimit-Policy")!
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length",
    ]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if ["/health", "/metrics", "/live", "/ready"].contains(request.uri.path) { return try await next(request, context) }
        let start = ContinuousClock.now
        let requestId = Self.requestId(of: request)
        var routeName = "unmatched"
        var response: Response
        do {
            response = try await serve(request, context: context, requestId: requestId, routeName: &routeName)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        }
        response.headers[Self.requestIdHeader] = requestId
        GatewayMetrics.request(route: routeName, status: Int(response.status.code), duration: .now - start)
        return response
    }

    private func serve(_ request: Request, context: Context, requestId: String, routeName: inout String) async throws -> Response {
        let (route, parameters): (Route, [String])
        switch table.match(request.method, Substring(request.uri.path)) {
        case .notFound:
            throw APIError.notFound("no such resource")
        case .methodNotAllowed(let allowed):
            let allow = Set(allowed.map(\.rawValue) + (allowed.contains(.get) ? ["HEAD"] : [])).sorted().joined(separator: ", ")
            throw APIError(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; allowed: \(allow)", headers: [.allow: allow])
        case .route(let matched, let values):
            (route, parameters) = (matched, values)
        }
        routeName = route.name
        let pool = pools[route.upstream]!

        let caller: Caller?
        do {
            caller = try await authentication.caller(authorization: request.headers[.authorization])
        } catch {
            GatewayMetrics.rejection("unauthorized", pool: pool.upstream.rawValue)
            throw error
        }
        guard caller != nil || route.isPublic else {
            GatewayMetrics.rejection("unauthorized", pool: pool.upstream.rawValue)
            throw APIError.unauthorized("a bearer token is required")
        }

        var rateHeaders: HTTPFields = [:]
        if let rateLimiter {
            let decision = rateLimiter.take(rateLimitKey(caller: caller, context: context))
            rateHeaders[Self.rateLimitPolicyHeader] = "\"default\";q=\(rateLimiter.burst);w=\(rateLimiter.windowSeconds)"
            rateHeaders[Self.rateLimitHeader] = "\"default\";r=\(decision.remaining);t=\(decision.resetSeconds)"
            guard decision.allowed else {
                GatewayMetrics.rejection("rate_limited", pool: pool.upstream.rawValue)
                var headers = rateHeaders
                headers[.retryAfter] = String(decision.resetSeconds)
                throw APIError(
                    .tooManyRequests, "too many requests: slow down and try again in \(decision.resetSeconds) s", headers: headers)
            }
        }

        var body: ByteBuffer?
        if route.maximumBody > 0 {
            do {
                body = try await request.body.collect(upTo: route.maximumBody)
            } catch {
                throw APIError(.contentTooLarge, "request body larger than \(route.maximumBody) bytes")
            }
        }
        let target = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
        let outgoing = Forwarder.Outgoing(
            method: HTTPMethod(rawValue: request.method.rawValue), target: target,
            headers: forwardedHeaders(request, context: context, requestId: requestId), body: body, timeout: route.timeout)
        let result = await forwarder.send(outgoing, to: pool)

        var response = try await answer(result, route: route, parameters: parameters, outgoing: outgoing, request: request)
        response.headers.append(contentsOf: rateHeaders)
        return response
    }

    /// The answer for `result`, or the route's fallback's when the pool could not answer.
    private func answer(_ result: Forwarder.Result, route: Route, parameters: [String], outgoing: Forwarder.Outgoing, request: Request)
        async throws -> Response
    {
        let pool = route.upstream.rawValue
        switch route.fallback {
        case .none:
            break
        case .staleCopy:
            if case .response(200, let headers, let body) = result {
                staleCopies.store(
                    outgoing.target,
                    .init(body: body, contentType: headers.first(name: "content-type"), link: headers.first(name: "link"), storedAt: .now))
            } else if result.isFailure, let copy = staleCopies.copy(of: outgoing.target) {
                GatewayMetrics.fallback("stale_copy", pool: pool)
                var headers: HTTPFields = [
                    Self.staleHeader: "true", .age: String((ContinuousClock.now - copy.storedAt).components.seconds),
                ]
                headers[.contentType] = copy.contentType ?? "application/json"
                if let link = copy.link { headers[.link] = link }
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: copy.body))
            }
        case .rentalRecords(let target):
            let viewMissing: Bool
            if case .response(404, _, _) = result { viewMissing = true } else { viewMissing = false }
            // A view that is not there yet (Lookup lags the order) or a Lookup that cannot answer:
            // Rental's own record answers, without the delivery status.
            if result.isFailure || viewMissing {
                var fallback = outgoing
                fallback.target = target(parameters, request.uri.query ?? "")
                let answer = await forwarder.send(fallback, to: pools[.rental]!)
                if case .response(let status, let headers, let body) = answer, status == 200, let marked = RentalRecords.asViews(body) {
                    GatewayMetrics.fallback(viewMissing ? "view_missing" : "lookup_unavailable", pool: pool)
                    var fields: HTTPFields = [.contentType: "application/json", Self.fallbackHeader: "rental"]
                    if let link = headers.first(name: "link") { fields[.link] = link }
                    return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: marked))
                }
                // Rental refusing (another customer's rental: 404; 403) is the answer, as it would be from Lookup.
                if case .response(let status, _, _) = answer, (400..<500).contains(status) { return try response(for: answer, pool: pool) }
            }
        }
        return try response(for: result, pool: pool)
    }

    private func response(for result: Forwarder.Result, pool: String) throws -> Response {
        switch result {
        case .response(let status, let headers, let body):
            var fields = HTTPFields()
            for header in headers where !Self.hopByHop.contains(header.name.lowercased()) {
                if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
            }
            return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: body))
        case .unavailable(let reason, let retryAfter):
            GatewayMetrics.rejection(reason.rawValue, pool: pool)
            let seconds = max(1, Int((retryAfter / .seconds(1)).rounded(.up)))
            let why =
                switch reason {
                case .overloaded: "\(pool) is busy"
                case .breakerOpen, .noInstance: "\(pool) is unavailable just now"
                }
            throw APIError(.serviceUnavailable, "\(why): please try again in a moment", headers: [.retryAfter: String(seconds)])
        case .timedOut:
            GatewayMetrics.rejection("timeout", pool: pool)
            throw APIError(.gatewayTimeout, "\(pool) did not answer in time")
        case .failed:
            GatewayMetrics.rejection("upstream_failed", pool: pool)
            throw APIError(.badGateway, "\(pool) failed to answer")
        }
    }

    /// The request's headers as an instance gets them: without hop-by-hop ones (and those the
    /// `Connection` header names), with the request id and the client's address.
    private func forwardedHeaders(_ request: Request, context: Context, requestId: String) -> HTTPHeaders {
        let named = Set(
            (request.headers[.connection] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        var headers = HTTPHeaders()
        for field in request.headers {
            let name = field.name.canonicalName
            guard !Self.hopByHop.contains(name), !named.contains(name), name != "x-request-id", name != "x-forwarded-for" else { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        headers.add(name: "X-Request-Id", value: requestId)
        if let address = context.remoteAddress?.ipAddress { headers.add(name: "X-Forwarded-For", value: address) }
        return headers
    }

    /// Per subject with a token; per client address without one (and with `--no-auth`, where
    /// every caller is the same admin).
    private func rateLimitKey(caller: Caller?, context: Context) -> String {
        if let caller, case .tokens = authentication { return "subject:\(caller.role.rawValue):\(caller.subject)" }
        return "address:\(context.remoteAddress?.ipAddress ?? "unknown")"
    }

    /// The client's `X-Request-Id` when it is a sensible one (1 to 128 visible ASCII characters),
    /// else a new one.
    static func requestId(of request: Request) -> String {
        if let id = request.headers[requestIdHeader], (1...128).contains(id.utf8.count), id.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        {
            return id
        }
        return UUID().uuidString.lowercased()
    }
}

/// Rental's records made to look like Lookup's views, marked: `fallback: true` and a delivery
/// status of `unknown` (only Lookup knows it).
enum RentalRecords {
    static func asViews(_ body: ByteBuffer) -> ByteBuffer? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) else { return nil }
        func view(_ record: Any) -> Any? {
            guard let record = record as? [String: Any], let id = record["id"] else { return nil }
            return [
                "rentalId": id, "customerId": record["customerId"] ?? NSNull(), "bookId": record["bookId"] ?? NSNull(),
                "bookTitle": NSNull(), "status": record["status"] ?? NSNull(), "deliveryStatus": "unknown",
                "updatedAt": record["updatedAt"] ?? NSNull(), "fallback": true,
            ]
        }
        let converted: Any?
        if let list = json as? [Any] {
            let views = list.compactMap(view)
            converted = views.count == list.count ? views : nil
        } else {
            converted = view(json)
        }
        guard let converted, let data = try? JSONSerialization.data(withJSONObject: converted, options: [.sortedKeys]) else { return nil }
        return ByteBuffer(bytes: data)
    }
}
