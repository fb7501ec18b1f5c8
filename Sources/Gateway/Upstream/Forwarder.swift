import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Sends one request to a pool: past its load shedder and circuit breaker, to a ready instance,
/// and to another one when that is safe: when the request never reached the first (the connection
/// was refused), when it is a read (GET), or a write with an `Idempotency-Key` (the service answers
/// a repeat from its record). A write without one that may have been applied is never sent twice.
struct Forwarder: Sendable {
    let client: HTTPClient
    /// Responses larger than this are refused (502): no list the services give is near it.
    static let maximumResponseSize = 8 * 1024 * 1024

    struct Outgoing: Sendable {
        var method: HTTPMethod
        /// Path and query, e.g. `/rentals?customerId=alice`.
        var target: String
        var headers: HTTPHeaders
        var body: ByteBuffer?
        var timeout: Duration
        /// A read, or a write the instance recognises when it comes again (`Idempotency-Key`): it
        /// may go to another instance even if the first may have applied it.
        var isRetryable: Bool { method == .GET || method == .HEAD || headers.contains(name: "Idempotency-Key") }
    }

    enum Result: Sendable {
        case response(status: Int, headers: HTTPHeaders, body: ByteBuffer)
        /// Turned away before reaching an instance: 503 with `Retry-After`.
        case unavailable(Rejection, retryAfter: Duration)
        /// The instance took longer than the route allows: 504.
        case timedOut
        /// The instance was reached but the exchange broke: 502.
        case failed(String)

        /// Whether the pool could not serve it (what the fallbacks step in for).
        var isFailure: Bool {
            if case .response(let status, _, _) = self { return status >= 500 }
            return true
        }
    }

    enum Rejection: String, Sendable, CaseIterable {
        case breakerOpen = "breaker_open"
        case overloaded = "load_shed"
        case noInstance = "no_instance"
    }

    func send(_ outgoing: Outgoing, to pool: InstancePool) async -> Result {
        guard await pool.limiter.acquire() else { return .unavailable(.overloaded, retryAfter: .seconds(1)) }
        defer { pool.limiter.release() }
        let ticket: CircuitBreaker.Ticket
        switch pool.breaker.permit() {
        case .allowed(let allowed): ticket = allowed
        case .rejected(let retryAfter): return .unavailable(.breakerOpen, retryAfter: retryAfter)
        }
        let start = ContinuousClock.now
        let result = await attempt(outgoing, on: pool)
        pool.breaker.record(ticket, failed: result.isFailure, duration: .now - start)
        return result
    }

    private func attempt(_ outgoing: Outgoing, on pool: InstancePool) async -> Result {
        let deadline = NIODeadline.now() + TimeAmount(outgoing.timeout)
        var tried: Set<URL> = []
        var repeats = 0  // sends that reached an instance and are tried again elsewhere
        var last: Result = .unavailable(.noInstance, retryAfter: .seconds(1))
        while let instance = pool.pick(excluding: tried) {
            tried.insert(instance)
            var request = HTTPClientRequest(url: instance.absoluteString + outgoing.target)
            request.method = outgoing.method
            request.headers = outgoing.headers
            if let body = outgoing.body { request.body = .bytes(body) }
            do {
                let response = try await client.execute(request, deadline: deadline)
                let body = try await response.body.collect(upTo: Self.maximumResponseSize)
                last = .response(status: Int(response.status.code), headers: response.headers, body: body)
                // A read answered 502/503/504 by one instance may do better on another.
                guard outgoing.isRetryable, [502, 503, 504].contains(Int(response.status.code)), repeats == 0 else { return last }
                repeats += 1
            } catch {
                if Self.neverReached(error) {
                    pool.setReady(instance, false)  // the health check brings it back
                    last = .unavailable(.noInstance, retryAfter: .seconds(1))
                    continue
                }
                last = Self.isTimeout(error) ? .timedOut : .failed("\(error)")
                guard outgoing.isRetryable, !Self.isTimeout(error), repeats == 0 else { return last }
                repeats += 1
            }
        }
        return last
    }

    /// The request did not leave: the connection was refused or never made.
    static func neverReached(_ error: any Error) -> Bool {
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode) { return true }
        return "\(error)".contains("onnection refused")
    }

    static func isTimeout(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return error == .deadlineExceeded || error == .readTimeout
    }
}
