import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 load generator on one NIO event loop: keep-alive connections per port, one request in
/// flight per connection, requests beyond that queue (counting their wait). Everything it owns is
/// touched only on `loop`, hence `@unchecked Sendable`.
///
/// Two ways to drive it: ``openLoop(rate:duration:make:)`` sends at a constant arrival rate whatever
/// the answers do (what customers do), ``closedLoop(duration:connections:make:)`` sends each
/// connection's next request when its answer arrives (the saturation rate), or once a 503's
/// `Retry-After` has passed.
final class LoadGenerator: @unchecked Sendable {
    let loop: any EventLoop
    private var pools: [Int: Pool] = [:]
    private var results = PhaseResults()
    /// Whether phases keep every answer in `PhaseResults.trace` (`--trace`).
    private let tracing: Bool
    /// The current open-loop phase's start, from which traced times count.
    private var phaseStart = NIODeadline.now()

    init(loop: any EventLoop, tracing: Bool = false) {
        self.loop = loop
        self.tracing = tracing
    }

    /// Opens `count` connections to `port` on 127.0.0.1 (more than once adds more).
    func connect(port: Int, count: Int) async throws {
        for _ in 0..<count {
            let handler = AnswerHandler()
            let channel = try await ClientBootstrap(group: loop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            try await loop.submit {
                let pool = self.pools[port] ?? Pool()
                self.pools[port] = pool
                let connection = Connection(channel: channel, handler: handler, port: port)
                pool.all.append(channel)
                handler.connection = connection
                handler.generator = self
                pool.idle.append(connection)
            }.get()
        }
    }

    /// Opens connections to `port` until `count` are open (servers close idle keep-alive
    /// connections, after 30 s here, while a phase leaves a port alone), and from now on sends on
    /// at most `count` of them at a time: a phase with fewer connections than the one before it
    /// uses as many as it says, not those still open from the other.
    func keepOpen(port: Int, count: Int) async throws {
        let open = try await loop.submit { self.pools[port].map { $0.all.filter(\.isActive).count } ?? 0 }.get()
        if open < count { try await connect(port: port, count: count - open) }
        try await loop.submit { self.pools[port]?.limit = count }.get()
    }

    func close() async {
        let channels = try? await loop.submit { self.pools.values.flatMap { $0.all } }.get()
        for channel in channels ?? [] { try? await channel.close() }
    }

    // MARK: Driving

    /// Sends `rate` requests per second for `duration` (request `n` at start + n/rate); returns when
    /// every answer, and every request the answers caused, has arrived.
    func openLoop(rate: Double, duration: Duration, make: @escaping @Sendable (_ index: Int, _ intended: NIODeadline) -> PlannedRequest)
        async throws
        -> PhaseResults
    {
        let total = Int(rate * seconds(duration))
        let interval = 1e9 / rate
        return try await loop.flatSubmit { () -> EventLoopFuture<PhaseResults> in
            self.results = PhaseResults()
            let done = self.loop.makePromise(of: PhaseResults.self)
            let start = NIODeadline.now() + .milliseconds(20)
            self.phaseStart = start
            var index = 0
            func intended(_ index: Int) -> NIODeadline { start + .nanoseconds(Int64(Double(index) * interval)) }
            func tick() {
                let now = NIODeadline.now()
                while index < total, intended(index) <= now {
                    self.submit(make(index, intended(index)))
                    index += 1
                }
                if index < total {
                    self.loop.assumeIsolated().scheduleTask(deadline: intended(index)) { tick() }
                } else {
                    self.whenIdle { [self] in
                        self.results.elapsed = .nanoseconds(Int64((NIODeadline.now() - start).nanoseconds))
                        done.succeed(self.results)
                    }
                }
            }
            // Everything here runs on the generator's event loop: its state needs no lock.
            self.loop.assumeIsolated().scheduleTask(deadline: start) { tick() }
            return done.futureResult
        }.get()
    }

    /// Keeps every connection to the ports `make` chooses busy for `duration`, a new request as soon
    /// as an answer arrives; only answers within the window count.
    func closedLoop(duration: Duration, concurrency: Int, make: @escaping @Sendable () -> PlannedRequest) async throws -> PhaseResults {
        try await loop.flatSubmit { () -> EventLoopFuture<PhaseResults> in
            self.results = PhaseResults()
            let done = self.loop.makePromise(of: PhaseResults.self)
            let start = NIODeadline.now()
            let end = start + .nanoseconds(Int64(duration / .nanoseconds(1)))
            let window = NIOLoopBoundBox(PhaseResults(), eventLoop: self.loop)
            func next() {
                guard NIODeadline.now() < end else { return }
                var request = make()
                request.intended = .now()
                let answer = request.onAnswer
                request.onAnswer = { status, body, retryAfter in
                    answer?(status, body, retryAfter)
                    // A client told to come back later does, as the gateway's 503 asks of
                    // everyone (and the web app does). One that asked again at once made a storm
                    // of refusals that took the box's CPU from the orders: up to 12,000 503s
                    // in a 10 s phase, the gateway's and the generator's work counted to no order.
                    guard let retryAfter else { return next() }
                    self.loop.assumeIsolated().scheduleTask(in: retryAfter) { next() }
                }
                self.submit(request)
            }
            for _ in 0..<concurrency { next() }
            self.loop.scheduleTask(deadline: end) {
                window.value = self.results  // what arrived within the window
                window.value.elapsed = .nanoseconds(Int64((NIODeadline.now() - start).nanoseconds))
                self.whenIdle { done.succeed(window.value) }
            }
            return done.futureResult
        }.get()
    }

    // MARK: Connections

    private final class Pool {
        var idle: [Connection] = []
        var busy = 0
        /// The most connections in use at a time (``keepOpen(port:count:)``).
        var limit = Int.max
        var waiting: [PlannedRequest] = []
        var waitingStart = 0
        var all: [any Channel] = []
    }

    final class Connection {
        let channel: any Channel
        let handler: AnswerHandler
        let port: Int
        init(channel: any Channel, handler: AnswerHandler, port: Int) {
            self.channel = channel
            self.handler = handler
            self.port = port
        }
    }

    private var idleCallbacks: [() -> Void] = []

    /// Requests scheduled for later with ``schedule(_:)``.
    private var scheduled = 0

    private var outstanding: Int { scheduled + pools.values.map { $0.busy + $0.waiting.count - $0.waitingStart }.reduce(0, +) }

    /// Submits `request` at its intended time; the phase waits for it.
    func schedule(_ request: PlannedRequest) {
        scheduled += 1
        loop.scheduleTask(deadline: request.intended) {
            self.scheduled -= 1
            self.submit(request)
        }
    }

    /// Calls `body` once nothing is in flight or waiting (now, if so).
    private func whenIdle(_ body: @escaping () -> Void) {
        if outstanding == 0 { body() } else { idleCallbacks.append(body) }
    }

    /// Sends `request` now if its port has an idle connection, else queues it.
    func submit(_ request: PlannedRequest) {
        guard let pool = pools[request.port] else { preconditionFailure("no connections to port \(request.port)") }
        if pool.busy < pool.limit, let connection = pool.idle.popLast() {
            pool.busy += 1
            send(request, on: connection)
        } else {
            pool.waiting.append(request)
        }
    }

    private func send(_ request: PlannedRequest, on connection: Connection) {
        connection.handler.pending = request
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: request.headers)
        head.headers.replaceOrAdd(name: "host", value: "127.0.0.1:\(request.port)")
        if let body = request.body { head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes)) }
        let channel = connection.channel
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body = request.body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        let promise = loop.makePromise(of: Void.self)
        // Answered as failed when it closes.
        promise.futureResult.assumeIsolated().whenFailure { _ in connection.channel.close(promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: promise)
    }

    /// A connection closed: it takes no more requests.
    func closed(_ connection: Connection) {
        pools[connection.port]?.idle.removeAll { $0 === connection }
    }

    /// An answer (or a failed connection, status 0) for the request in flight on `connection`.
    func answered(_ request: PlannedRequest, status: Int, body: ByteBuffer, retryAfter: Int? = nil, on connection: Connection?) {
        let micros = UInt64(max(0, (NIODeadline.now() - request.intended).nanoseconds / 1000))
        // Turned away (503) apart: a fast refusal is not the latency of the orders taken.
        let histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        if status == 503 {
            results.shedLatencies[request.route, default: histogram].record(micros)
            if retryAfter != nil { results.retryAfter[request.route, default: 0] += 1 }
        } else {
            results.latencies[request.route, default: histogram].record(micros)
        }
        results.statuses[request.route, default: [:]][status, default: 0] += 1
        if tracing {
            results.trace.append(
                TracedAnswer(
                    route: request.route, intendedMicros: (request.intended - phaseStart).nanoseconds / 1000, latencyMicros: micros,
                    status: status))
        }
        if let pool = pools[request.port] {
            if let connection, connection.channel.isActive {
                if pool.waitingStart < pool.waiting.count {
                    let next = pool.waiting[pool.waitingStart]
                    pool.waitingStart += 1
                    if pool.waitingStart > 1024, pool.waitingStart * 2 > pool.waiting.count {
                        pool.waiting.removeFirst(pool.waitingStart)
                        pool.waitingStart = 0
                    }
                    send(next, on: connection)
                } else {
                    pool.busy -= 1
                    pool.idle.append(connection)
                }
            } else {
                pool.busy -= 1
            }
        }
        request.onAnswer?(status, body, status == 503 ? retryAfter.map { .seconds(Int64($0)) } : nil)
        if outstanding == 0, !idleCallbacks.isEmpty {
            let callbacks = idleCallbacks
            idleCallbacks = []
            for callback in callbacks { callback() }
        }
    }
}
