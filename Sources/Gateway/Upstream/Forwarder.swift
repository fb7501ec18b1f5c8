import Foundation
import Instrumentation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceKit
import Tracing

/// Sends one request to a pool: past its load shedder and circuit breaker, to a ready instance,
/// and to another one when that is safe: when the request never reached the first (the connection
/// was refused), when it is a read (GET), or a write with an `Idempotency-Key` (the service answers
/// a repeat from its record). A write without one that may have been applied is never sent twice.
struct Forwarder: Sendable {
    let connections: UpstreamConnections

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
        let ticket: CircuitBreaker.Ticket
        switch pool.breaker.permit() {
        case .allowed(let allowed): ticket = allowed
        case .rejected(let retryAfter):
            pool.limiter.release()
            return .unavailable(.breakerOpen, retryAfter: retryAfter)
        }
        let start = ContinuousClock.now
        let result = await attempt(outgoing, on: pool)
        let duration = ContinuousClock.now - start
        pool.breaker.record(ticket, failed: result.isFailure, duration: duration)
        // Only an answer's time says how busy the instances are: a refused connection is quick and
        // a timeout is the route's, not theirs.
        if case .response = result { pool.limiter.release(latency: duration) } else { pool.limiter.release() }
        return result
    }

    private func attempt(_ outgoing: Outgoing, on pool: InstancePool) async -> Result {
        let deadline = NIODeadline.now() + TimeAmount(outgoing.timeout)
        var tried: [URL] = []
        var repeats = 0  // sends that reached an instance and are tried again elsewhere
        var last: Result = .unavailable(.noInstance, retryAfter: .seconds(1))
        while let instance = pool.pick(excluding: tried) {
            tried.append(instance.url)
            let request = UpstreamConnections.Request(
                method: outgoing.method, target: outgoing.target, headers: outgoing.headers, body: outgoing.body)
            do {
                let answer = try await send(request, to: instance.address, deadline: deadline)
                last = .response(status: answer.status, headers: answer.headers, body: answer.body)
                // A read answered 502/503/504 by one instance may do better on another.
                guard outgoing.isRetryable, [502, 503, 504].contains(answer.status), repeats == 0 else { return last }
                repeats += 1
            } catch {
                if case .notConnected = error {
                    pool.setReady(instance.url, false)  // the health check brings it back
                    last = .unavailable(.noInstance, retryAfter: .seconds(1))
                    continue
                }
                last = error == .timedOut ? .timedOut : .failed("\(error)")
                guard outgoing.isRetryable, error != .timedOut, repeats == 0 else { return last }
                repeats += 1
            }
        }
        return last
    }

    /// One send to one instance; with tracing on, in a client span whose context the request carries.
    private func send(_ request: UpstreamConnections.Request, to address: InstancePool.Address, deadline: NIODeadline)
        async throws(UpstreamConnections.Failure) -> UpstreamConnections.Answer
    {
        let (host, port) = (address.host, address.port)
        do {
            guard ServiceTracing.isEnabled else { return try await connections.send(request, host: host, port: port, deadline: deadline) }
            return try await withSpan(request.method.rawValue, ofKind: .client) { span in
                var request = request
                InstrumentationSystem.instrument.inject(span.context, into: &request.headers, using: HeadersInjector())
                span.attributes["http.request.method"] = request.method.rawValue
                span.attributes["server.address"] = host
                span.attributes["server.port"] = port
                let answer = try await connections.send(request, host: host, port: port, deadline: deadline)
                span.attributes["http.response.status_code"] = answer.status
                if answer.status >= 500 { span.setStatus(.init(code: .error)) }
                return answer
            }
        } catch let failure as UpstreamConnections.Failure {
            throw failure
        } catch {
            throw .broken("\(error)")
        }
    }
}

/// Puts a trace context's headers (`traceparent`, `tracestate`) on a forwarded request.
struct HeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}
