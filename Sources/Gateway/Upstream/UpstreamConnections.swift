import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The gateway's HTTP/1.1 keep-alive connections to the instances, kept per instance and per event
/// loop: a request goes out on a connection of the loop it runs on (``EventLoopExecutor``), so a
/// forwarded request, its answer and the client's answer never leave that loop's thread.
///
/// Why not AsyncHTTPClient, which forwarded until now: per request it parsed the URL, validated
/// every header, ran its pool's state machine under a lock, raced a cancellation actor and a
/// deadline task, and wrote the head and the body in two writes (two system calls, two TCP
/// segments for the instance to read). Measured at 500 orders/s, its part was a fifth of the
/// gateway's CPU, the second write half of that. Here a request is one write of head, body and end,
/// and the pool is a list per instance and loop. AsyncHTTPClient still makes the health checks,
/// once a second per instance. Rejected: a pool shared by all loops (every answer would hop to the
/// connection's loop and back, the hand-off this removes).
final class UpstreamConnections: Sendable {
    struct Request: Sendable {
        var method: HTTPMethod
        /// Path and query.
        var target: String
        /// Written as they are (see ``connect(host:port:on:deadline:)``), without `Host` and
        /// `Content-Length`, which ``send(_:host:port:deadline:)`` sets.
        var headers: HTTPHeaders
        var body: ByteBuffer?
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    enum Failure: Error, Equatable {
        /// No connection: the request never left.
        case notConnected(String)
        case timedOut
        /// The connection broke, or closed, before the whole answer came.
        case broken(String)
        case answerTooLarge
    }

    private struct Key: Hashable {
        var host: String
        var port: Int
        var loop: ObjectIdentifier
    }

    private struct Idle {
        var channel: any Channel
        var since: NIODeadline
    }

    private struct State {
        var idle: [Key: [Idle]] = [:]
        var isShutDown = false
    }

    /// An idle connection is not used after this long: the instances close theirs after 30 s, and
    /// a request written on a connection as it closes would fail.
    static let idleLimit: TimeAmount = .seconds(20)
    /// Answers larger than this are refused (502): no list the services give is near it.
    static let maximumAnswerSize = 8 * 1024 * 1024

    private let group: any EventLoopGroup
    private let connectTimeout: TimeAmount
    /// Idle connections kept per instance and loop; one more is closed when it comes back.
    private let maximumIdle: Int
    private let state = Mutex(State())

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: TimeAmount = .milliseconds(500), maximumIdle: Int
    ) {
        self.group = group
        self.connectTimeout = connectTimeout
        self.maximumIdle = max(1, maximumIdle)
    }

    /// Sends `request` to `host:port` and reads the whole answer, by `deadline`.
    func send(_ request: Request, host: String, port: Int, deadline: NIODeadline) async throws -> Answer {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        let key = Key(host: host, port: port, loop: ObjectIdentifier(loop))
        let channel: any Channel
        if let reused = takeIdle(key) {
            channel = reused
        } else {
            channel = try await connect(host: host, port: port, on: loop, deadline: deadline)
        }
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.target, headers: request.headers)
        assert(!request.headers.contains(name: "host") && !request.headers.contains(name: "content-length"))
        head.headers.add(name: "host", value: "\(host):\(port)")
        if let body = request.body {
            head.headers.add(name: "content-length", value: String(body.readableBytes))
        } else if request.method != .GET && request.method != .HEAD {
            head.headers.add(name: "content-length", value: "0")
        }
        let exchange = Exchange(head: head, body: request.body, deadline: deadline, promise: loop.makePromise())
        // Every way this can end completes the promise (a second completion is ignored): the
        // answer, the connection failing or closing, the deadline (the handler), and the write
        // failing before the handler saw it (a closed connection).
        let written = loop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in exchange.promise.fail(Failure.broken("\(error)")) }
        channel.writeAndFlush(exchange, promise: written)
        do {
            let (answer, keepAlive) = try await exchange.promise.futureResult.get()
            if keepAlive { putIdle(channel, key) } else { channel.close(promise: nil) }
            return answer
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Closes every idle connection; those in use close when their answer is in.
    func shutdown() {
        let idle = state.withLock { state in
            state.isShutDown = true
            defer { state.idle = [:] }
            return state.idle.values.flatMap { $0 }
        }
        for connection in idle { connection.channel.close(promise: nil) }
    }

    private func takeIdle(_ key: Key) -> (any Channel)? {
        let now = NIODeadline.now()
        var stale: [any Channel] = []
        defer { for channel in stale { channel.close(promise: nil) } }
        return state.withLock { state -> (any Channel)? in
            while let connection = state.idle[key]?.popLast() {
                if connection.channel.isActive && now - connection.since < Self.idleLimit { return connection.channel }
                stale.append(connection.channel)
            }
            return nil
        }
    }

    private func putIdle(_ channel: any Channel, _ key: Key) {
        let kept = state.withLock { state -> Bool in
            guard !state.isShutDown, (state.idle[key]?.count ?? 0) < maximumIdle else { return false }
            state.idle[key, default: []].append(Idle(channel: channel, since: .now()))
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    private func connect(host: String, port: Int, on loop: any EventLoop, deadline: NIODeadline) async throws -> any Channel {
        let timeout = min(connectTimeout, max(.milliseconds(1), deadline - .now()))
        do {
            return try await ClientBootstrap(group: loop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // No outbound header check: every header forwarded came through an
                        // `HTTPField` (its name checked, its value's illegal bytes made spaces) or
                        // is the gateway's own (request id, address, host, length, trace context).
                        // NIO's check went through every byte again, the bearer token's too: 2.3 %
                        // of the gateway's CPU at 1,500 orders/s.
                        try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                        try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw Failure.notConnected("\(error)")
        }
    }
}

/// One request on one connection: what to write, and where the answer goes. Touched only on the
/// connection's event loop.
final class Exchange: @unchecked Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer?
    /// The answer's whole end by then, or the exchange fails with `timedOut` and the connection closes.
    let deadline: NIODeadline
    let promise: EventLoopPromise<(UpstreamConnections.Answer, keepAlive: Bool)>

    init(
        head: HTTPRequestHead, body: ByteBuffer?, deadline: NIODeadline,
        promise: EventLoopPromise<(UpstreamConnections.Answer, keepAlive: Bool)>
    ) {
        self.head = head
        self.body = body
        self.deadline = deadline
        self.promise = promise
    }
}
