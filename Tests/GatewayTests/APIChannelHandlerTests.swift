import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProcessSupport
import ServiceKit
import Synchronization
import TestSupport
import XCTest

@testable import Gateway

/// The API served in the connection's pipeline (``APIChannelHandler``), against a real instance on
/// a loopback port, through raw sockets: what a client sees is what it saw on the router's path, in
/// the order it asked, pipelined or not.
final class APIChannelHandlerTests: XCTestCase {
    /// Rental, as far as these tests go: `/ready`; `GET /books` answers `[]`, `/books/slow` after
    /// 300 ms, `POST /books` its body back with 201.
    final class Instance: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private var head: HTTPRequestHead?
        private var body = ByteBuffer()

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let received): (head, body) = (received, ByteBuffer())
            case .body(var part): body.writeBuffer(&part)
            case .end:
                guard let head else { return }
                switch (head.method, head.uri) {
                case (.POST, _): answer(.created, body, context: context)
                case (.HEAD, _): answer(.ok, ByteBuffer(), context: context)
                case (_, "/books/slow"):
                    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(300)) {
                        self.answer(.ok, ByteBuffer(string: "slow"), context: context)
                    }
                case (_, "/books"): answer(.ok, ByteBuffer(string: "[]"), context: context)
                case (_, "/books/headers"):
                    let lines = head.headers.map { "\($0.name.lowercased()): \($0.value)" }
                    let extra: HTTPHeaders = [
                        "Keep-Alive": "timeout=30", "UPGRADE": "h2c", "Proxy-Connection": "keep-alive", "X-Answer": "kept",
                    ]
                    answer(.ok, ByteBuffer(string: lines.joined(separator: "\n")), extra: extra, context: context)
                default: answer(.ok, ByteBuffer(string: #"{"status":"ready"}"#), context: context)
                }
            }
        }

        private func answer(_ status: HTTPResponseStatus, _ body: ByteBuffer, extra: HTTPHeaders = [:], context: ChannelHandlerContext) {
            var headers: HTTPHeaders = ["content-type": "application/json", "content-length": String(body.readableBytes)]
            headers.add(contentsOf: extra)
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Counts the requests that reach the router.
    final class Counting: RouterMiddleware, Sendable {
        typealias Context = GatewayRequestContext
        let paths = Mutex<[String]>([])

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            paths.withLock { $0.append(request.uri.path) }
            return try await next(request, context)
        }
    }

    struct RawAnswer {
        var status: Int
        var headers: [String: String]
        var body: String
        /// The head's header lines as they came.
        var lines: [String] = []
    }

    private var instance: (any Channel)!
    private let routed = Counting()

    override func setUp() async throws {
        instance = try await startLoopbackHTTPServer { Instance() }
    }

    override func tearDown() async throws { try await instance.close() }

    /// The gateway as it is served, on one event loop (the test's second argument), with a router
    /// that counts what reaches it; with `busyLimit`, turning requests away while the loop is busier.
    private func withGateway(busyLimit: Double? = nil, _ test: @escaping @Sendable (Int, any EventLoop) async throws -> Void)
        async throws
    {
        let url = URL(string: "http://127.0.0.1:\(instance.localAddress!.port!)")!
        let configuration = GatewayConfiguration(
            pools: [.rental: [url]], authentication: .disabled, rateLimit: 0, logger: Logger(label: "test"))
        let connections = UpstreamConnections(maximumIdle: 4)
        defer { connections.shutdown() }
        let api = GatewayApplication.makeAPI(configuration, pools: GatewayApplication.makePools(configuration), connections: connections)
        let router = Router(context: GatewayRequestContext.self)
        router.middlewares.add(routed)
        router.middlewares.add(GatewayMiddleware(api: api))
        router.get("/ready") { _, _ in "ready" }
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pressures = busyLimit.map { LoopPressures(group: loops, settings: LoopPressure.Settings(limit: $0)) }
        let app = Application(
            router: router, server: .gateway(api, pressures: pressures),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "gateway"), services: pressures.map { [$0] } ?? [],
            eventLoopGroupProvider: .shared(loops))
        try await app.test(.live) { client in try await test(client.port!, loops.next()) }
        try await loops.shutdownGracefully()
    }

    func testTheAPIIsAnsweredInThePipelineAndOnlyTheGatewaysOwnRoutesReachTheRouter() async throws {
        try await withGateway { port, _ in
            let answers = try Self.exchange(
                port: port,
                [
                    Self.request("GET", "/books"), Self.request("GET", "/ready"),
                    Self.request("POST", "/books", body: #"{"title":"Dune"}"#),
                    Self.request("GET", "/nowhere"), Self.request("HEAD", "/nowhere"), Self.request("GET", "/books"),
                ])
            XCTAssertEqual(answers.map(\.status), [200, 200, 201, 404, 404, 200])
            XCTAssertEqual(
                answers.map(\.body), ["[]", "ready", #"{"title":"Dune"}"#, #"{"error":"no such resource"}"#, "", "[]"],
                "the answer to HEAD has no body, though the gateway made it with one (NIO's encoder leaves it out)")
            XCTAssertEqual(answers[4].headers["content-length"], answers[3].headers["content-length"], "and the length GET would have")
            for answer in answers {
                XCTAssertNotNil(answer.headers["x-request-id"], "every answer has its request id")
                XCTAssertEqual(answer.headers["server"], "gateway")
                XCTAssertNotNil(answer.headers["date"])
            }
        }
        XCTAssertEqual(routed.paths.withLock { $0 }, ["/ready"], "the API's requests never reached the router")
    }

    func testPipelinedAnswersKeepTheirRequestsOrderWhenTheAPIIsSlower() async throws {
        try await withGateway { port, _ in
            let answers = try Self.exchange(
                port: port, [Self.request("GET", "/books/slow"), Self.request("GET", "/ready"), Self.request("GET", "/books")])
            XCTAssertEqual(answers.map(\.body), ["slow", "ready", "[]"], "the router's quick answer waited for the slow one before it")
        }
    }

    func testThousandsOfPipelinedRequestsAfterASlowOneAreAnsweredInTurn() async throws {
        // While the slow one is in hand, the rest wait in the handler (and the socket is read no
        // further than one read ahead); once it is answered, they are taken in turn, each answered
        // before the next (a 404 needs no instance).
        let count = 3000
        try await withGateway { port, _ in
            let answers = try Self.exchange(
                port: port, [Self.request("GET", "/books/slow")] + Array(repeating: Self.request("GET", "/nowhere"), count: count))
            XCTAssertEqual(answers.count, count + 1)
            XCTAssertEqual(answers.first?.body, "slow")
            XCTAssertEqual(Set(answers.dropFirst().map(\.status)), [404])
        }
    }

    func testATooLargeBodyIsRefusedAndTheConnectionGoesOnUntilTheClientAsksToCloseIt() async throws {
        try await withGateway { port, _ in
            let large = String(repeating: "x", count: RouteTable.maximumBody + 10)
            let answers = try Self.exchange(
                port: port,
                [
                    Self.request("POST", "/books", body: large), Self.request("GET", "/books"),
                    Self.request("GET", "/books", headers: "Connection: close\r\n"),
                ], thenClosed: true)
            XCTAssertEqual(answers.map(\.status), [413, 200, 200])
            XCTAssertEqual(answers[2].headers["connection"], "close")
        }
    }

    func testWhileItsLoopIsTooBusyTheAPIIsTurnedAwayUnreadWith503AndRetryAfterAndServedOnceItKeepsUp() async throws {
        try await withGateway(busyLimit: 0.9) { port, loop in
            XCTAssertEqual(try Self.exchange(port: port, [Self.request("GET", "/books")]).map(\.status), [200], "served on time")
            // The loop's thread busy for 600 ms, as a burst of work would keep it.
            await withCheckedContinuation { started in
                loop.execute {
                    started.resume()
                    let end = ContinuousClock.now + .milliseconds(600)
                    while ContinuousClock.now < end {}
                }
            }
            let answers = try Self.exchange(
                port: port,
                [Self.request("POST", "/books", body: #"{"title":"Dune"}"#), Self.request("GET", "/books"), Self.request("GET", "/ready")])
            XCTAssertEqual(
                answers.map(\.status), [503, 503, 200], "the API's requests turned away, a body dropped; the gateway's own served")
            XCTAssertEqual(answers[0].body, #"{"error":"the gateway is busy: please try again in a moment"}"#)
            XCTAssertEqual(answers[0].headers["retry-after"], "1")
            XCTAssertNotNil(answers[0].headers["x-request-id"])
            let servedAgain = try await eventually(timeout: .seconds(10)) {
                try Self.exchange(port: port, [Self.request("GET", "/books")]).map(\.status) == [200]
            }
            XCTAssertTrue(servedAgain, "served again once the loop caught up")
        }
        let busy = GatewayMetrics.rejections.withLock { $0[.init(reason: "gateway_busy", pool: "rental")]?.count ?? 0 }
        XCTAssertGreaterThanOrEqual(busy, 2, "counted as rejections, reason gateway_busy")
    }

    func testHeadersThatDescribeOneConnectionStopAtTheGatewayEitherWayAndTheRestCross() async throws {
        let instance = "127.0.0.1:\(self.instance.localAddress!.port!)"
        try await withGateway { port, _ in
            let headers = [
                "Connection: keep-alive, X-Private", "X-Private: secret", "Keep-Alive: timeout=5", "TE: trailers", "Upgrade: h2c",
                "Proxy-Authorization: Basic eDp5", "Cookie: session=1", "X-Forwarded-For: 10.9.9.9", "X-Kept: yes",
                "X-Request-Id: crossing-1",
            ]
            let answer = try XCTUnwrap(
                Self.exchange(port: port, [Self.request("GET", "/books/headers", headers: headers.map { $0 + "\r\n" }.joined())]).first)
            XCTAssertEqual(answer.status, 200)
            let seen = answer.body.split(separator: "\n").map(String.init)
            XCTAssertEqual(
                seen.sorted(),
                ["host: \(instance)", "x-forwarded-for: 127.0.0.1", "x-kept: yes", "x-request-id: crossing-1"],
                "only the message's own headers reached the instance, the host and the client's address the gateway's")
            XCTAssertEqual(answer.headers["x-answer"], "kept")
            for name in ["keep-alive", "upgrade", "proxy-connection"] {
                XCTAssertNil(answer.headers[name], "\(name) stopped at the gateway")
            }
            XCTAssertEqual(answer.lines.filter { $0.lowercased().hasPrefix("content-length:") }.count, 1, "one length, the gateway's")
        }
    }

    private static func request(_ method: String, _ target: String, body: String? = nil, headers: String = "") -> String {
        let length = body.map { "Content-Length: \($0.utf8.count)\r\nContent-Type: application/json\r\n" } ?? ""
        return "\(method) \(target) HTTP/1.1\r\nHost: gateway\r\n\(length)\(headers)\r\n\(body ?? "")"
    }

    /// Sends `requests` in one write and reads their answers (and, with `thenClosed`, the end of
    /// the connection), each within 10 s.
    private static func exchange(port: Int, _ requests: [String], thenClosed: Bool = false) throws -> [RawAnswer] {
        let count = requests.count
        guard let socket = TCPPort.connect(to: port) else { throw CancellationError() }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(requests.joined().utf8)
        XCTAssertEqual(send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)), bytes.count)
        var received: [UInt8] = []
        var answers: [RawAnswer] = []
        var closed = false
        while answers.count < count || (thenClosed && !closed) {
            if answers.count < count, let (answer, used) = parse(received, toHead: requests[answers.count].hasPrefix("HEAD ")) {
                answers.append(answer)
                received.removeFirst(used)
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let read = recv(socket, &chunk, chunk.count, 0)
            guard read > 0 else {
                closed = read == 0
                if closed && answers.count >= count { break }
                XCTFail("the connection ended (\(read)) after \(answers.count) answers")
                break
            }
            received += chunk[..<read]
        }
        return answers
    }

    /// One whole answer at the start of `bytes` and how many bytes it took, or nil if it is not all
    /// there. An answer to `HEAD` has no body, whatever its length says.
    private static func parse(_ bytes: [UInt8], toHead: Bool) -> (RawAnswer, Int)? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            headers[pair[0].lowercased()] = pair.count > 1 ? pair[1].trimmingCharacters(in: .whitespaces) : ""
        }
        let headLength = text[..<end.upperBound].utf8.count
        let length = toHead ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= headLength + length else { return nil }
        // Anything before the status line (a body where none belongs) makes it no answer: -1.
        let status = lines[0].hasPrefix("HTTP/1.1 ") ? Int(lines[0].split(separator: " ")[1]) ?? 0 : -1
        return (
            RawAnswer(
                status: status, headers: headers, body: String(decoding: bytes[headLength..<headLength + length], as: UTF8.self),
                lines: Array(lines.dropFirst())),
            headLength + length
        )
    }
}
