import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import NIOHTTP1
import ServiceKit
import Tracing

/// The gateway's work for every call of the public API, whether it comes from a client or from the
/// web app on a signed-in person's behalf: match the route (404, 405 + `Allow`), check the token
/// (401), apply the subject's rate limit (429), read the body within its limit (413), forward to
/// the route's pool (503 when it sheds load, its breaker is open or no instance is ready; 504 past
/// the route's time; 502 when the exchange breaks), and step in with a fallback where a route has
/// one. Every answer carries `X-Request-Id`; every error is `{"error": …}`.
struct PublicAPI: Sendable {
    let table: RouteTable
    let pools: [Upstream: InstancePool]
    let forwarder: Forwarder
    let authentication: Authentication
    let rateLimiter: TokenBucketLimiter?
    let staleCopies: StaleCopies

    /// The gateway's own routes, never forwarded.
    static let ownPaths: Set<String> = ["/", "/health", "/metrics", "/live", "/ready", "/openapi.json"]
    /// The web app's pages and files.
    static let webPrefix = "/app/"

    /// Whether `path` is the gateway's own (its probes and documents, or the web app's), served by
    /// its router, not the API.
    static func isOwn(_ path: some StringProtocol) -> Bool {
        ownPaths.contains(String(path)) || path.hasPrefix(webPrefix)
    }

    static let requestIdHeader = RequestID.header
    static let fallbackHeader = HTTPField.Name("X-Fallback")!
    static let staleHeader = HTTPField.Name("X-Stale")!
    static let rateLimitHeader = HTTPField.Name("RateLimit")!
    static let rateLimitPolicyHeader = HTTPField.Name("RateLimit-Policy")!

    /// One call of the API.
    struct Call: Sendable {
        enum Body: Sendable {
            /// A client's request body, read only once the call is allowed.
            case stream(RequestBody)
            case buffer(ByteBuffer)
        }

        var method: HTTPRequest.Method
        var path: String
        var query: String?
        var headers: HTTPFields
        var body: Body
        /// The rate limit's key for a call without a token.
        var clientAddress: String?
    }

    /// What the API answered: whole, so that the web app can read it.
    struct Answer: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: ByteBuffer

        var response: Response { Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body)) }

        /// The `error` of a JSON error body, or the status's reason.
        var errorMessage: String {
            struct ErrorBody: Decodable { var error: String }
            return (try? JSONDecoder().decode(ErrorBody.self, from: Data(body.readableBytesView)))?.error ?? status.reasonPhrase
        }
    }

    /// Serves `call` by the public route table, or by `table` (the web app's own routes).
    func exchange(_ call: Call, through table: RouteTable? = nil) async -> Answer {
        let start = ContinuousClock.now
        let requestId = Self.requestId(of: call.headers)
        var routeName = "unmatched"
        var answer: Answer
        do {
            answer = try await serve(call, table: table ?? self.table, requestId: requestId, routeName: &routeName)
        } catch let error as APIError {
            answer = Self.answer(for: error)
        } catch {
            answer = Self.answer(for: APIError(.badGateway, "the request could not be served"))
        }
        answer.headers[Self.requestIdHeader] = requestId
        GatewayMetrics.request(route: routeName, status: Int(answer.status.code), duration: .now - start)
        return answer
    }

    static func answer(for error: APIError) -> Answer {
        Answer(status: error.status, headers: error.responseHeaders, body: error.body)
    }

    /// The answer to a call turned away before any of the API's work because the gateway's own
    /// event loop is too busy (``LoopPressure``); nil for a path of no route (its 404 costs no more).
    func busy(_ method: HTTPRequest.Method, path: String, headers: HTTPFields) -> Answer? {
        guard case .route(let route, _) = table.match(method, Substring(path)) else { return nil }
        GatewayMetrics.rejection("gateway_busy", pool: route.upstream.rawValue)
        GatewayMetrics.request(route: route.name, status: 503, duration: .zero)
        var answer = Self.busyAnswer
        answer.headers[Self.requestIdHeader] = Self.requestId(of: headers)
        return answer
    }

    /// Made once: under overload it is most answers.
    private static let busyAnswer = answer(
        for: APIError(.serviceUnavailable, "the gateway is busy: please try again in a moment", headers: [.retryAfter: "1"]))

    private func serve(_ call: Call, table: RouteTable, requestId: String, routeName: inout String) async throws -> Answer {
        let (route, parameters): (Route, [String])
        switch table.match(call.method, Substring(call.path)) {
        case .notFound:
            throw APIError.notFound("no such resource")
        case .methodNotAllowed(let allowed):
            throw APIError.methodNotAllowed(call.method, allowed: allowed)
        case .route(let matched, let values):
            (route, parameters) = (matched, values)
        }
        routeName = route.name
        // The gateway's routes are matched here, not by the router: the server span learns its name.
        if ServiceTracing.isEnabled, let span = InstrumentationSystem.tracer.activeSpan(identifiedBy: .current ?? .topLevel) {
            span.operationName = route.name
            span.attributes["http.route"] = "/" + route.segments.joined(separator: "/")
        }
        let pool = pools[route.upstream]!

        let caller: Caller?
        do {
            caller = try await authentication.caller(authorization: call.headers.value(.authorization))
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
            let decision = rateLimiter.take(rateLimitKey(caller: caller, clientAddress: call.clientAddress))
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
            switch call.body {
            case .buffer(let buffer):
                guard buffer.readableBytes <= route.maximumBody else {
                    throw APIError(.contentTooLarge, "request body larger than \(route.maximumBody) bytes")
                }
                body = buffer
            case .stream(let stream):
                do {
                    body = try await stream.collect(upTo: route.maximumBody)
                } catch {
                    throw APIError(.contentTooLarge, "request body larger than \(route.maximumBody) bytes")
                }
            }
        }
        let target = call.path + (call.query.map { "?\($0)" } ?? "")
        let outgoing = Forwarder.Outgoing(
            method: HTTPMethod(rawValue: call.method.rawValue), target: target,
            headers: forwardedHeaders(call, requestId: requestId), body: body, timeout: route.timeout)
        let result = await forwarder.send(outgoing, to: pool)

        var answer = try await answer(result, route: route, parameters: parameters, outgoing: outgoing, query: call.query)
        answer.headers.append(contentsOf: rateHeaders)
        return answer
    }

    /// The answer for `result`, or the route's fallback's when the pool could not answer.
    private func answer(_ result: Forwarder.Result, route: Route, parameters: [String], outgoing: Forwarder.Outgoing, query: String?)
        async throws -> Answer
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
                return Answer(status: .ok, headers: headers, body: copy.body)
            }
        case .rentalRecords(let target):
            let viewMissing: Bool
            if case .response(404, _, _) = result { viewMissing = true } else { viewMissing = false }
            // A view that is not there yet (Lookup lags the order) or a Lookup that cannot answer:
            // Rental's own record answers, without the delivery status.
            if result.isFailure || viewMissing {
                var fallback = outgoing
                fallback.target = target(parameters, query ?? "")
                let answer = await forwarder.send(fallback, to: pools[.rental]!)
                if case .response(let status, let headers, let body) = answer, status == 200, let marked = RentalRecords.asViews(body) {
                    GatewayMetrics.fallback(viewMissing ? "view_missing" : "lookup_unavailable", pool: pool)
                    var fields: HTTPFields = [.contentType: "application/json", Self.fallbackHeader: "rental"]
                    if let link = headers.first(name: "link") { fields[.link] = link }
                    return Answer(status: .ok, headers: fields, body: marked)
                }
                // Rental refusing (another customer's rental: 404; 403) is the answer, as it would be from Lookup.
                if case .response(let status, _, _) = answer, (400..<500).contains(status) {
                    return try self.answer(for: answer, pool: pool)
                }
            }
        }
        return try answer(for: result, pool: pool)
    }

    private func answer(for result: Forwarder.Result, pool: String) throws -> Answer {
        switch result {
        case .response(let status, let headers, let body):
            var fields = HTTPFields()
            fields.reserveCapacity(headers.count + 3)
            for header in headers where !Self.isHopByHop(header.name) {
                if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
            }
            return Answer(status: HTTPResponse.Status(code: status), headers: fields, body: body)
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

    /// Per subject with a token; per client address without one (and with `--no-auth`, where
    /// every caller is the same admin).
    private func rateLimitKey(caller: Caller?, clientAddress: String?) -> String {
        if let caller, case .tokens = authentication { return "subject:\(caller.role.rawValue):\(caller.subject)" }
        return "address:\(clientAddress ?? "unknown")"
    }

    /// The client's `X-Request-Id` when it is a sensible one (1 to 128 visible ASCII characters),
    /// else a new one.
    static func requestId(of headers: HTTPFields) -> String {
        RequestID.accepted(headers.value(requestIdHeader)) ?? RequestID.make()
    }
}
