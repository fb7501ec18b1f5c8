import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import XCTest

@testable import Gateway

/// The gateway's upstream connections against a real HTTP server on a loopback port.
final class UpstreamConnectionsTests: XCTestCase {
    /// Answers by path: `/echo` the body back, `/close` with `Connection: close`, `/slow` never,
    /// `/big` 9 MiB. Counts the connections it accepted.
    final class Server: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        static let accepted = Atomic(0)
        private var path = ""
        private var body = ByteBuffer()

        func channelActive(context: ChannelHandlerContext) {
            Self.accepted.add(1, ordering: .relaxed)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): (path, body) = (head.uri, ByteBuffer())
            case .body(var part): body.writeBuffer(&part)
            case .end:
                guard path != "/slow" else { return }
                var headers: HTTPHeaders = ["content-type": "text/plain"]
                let answer = path == "/big" ? ByteBuffer(repeating: 0x61, count: 9 << 20) : body
                headers.add(name: "content-length", value: String(answer.readableBytes))
                if path == "/close" { headers.add(name: "connection", value: "close") }
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .created, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(answer))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [path] _ in
                    if path == "/close" { context.close(promise: nil) }
                }
            }
        }
    }

    private var server: (any Channel)!
    private var port: Int { server.localAddress!.port! }
    /// One loop: the connections are kept per loop, and this test's tasks run on none.
    private let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private lazy var connections = UpstreamConnections(group: loop, maximumIdle: 4)

    override func setUp() async throws {
        Server.accepted.store(0, ordering: .relaxed)
        server = try await startLoopbackHTTPServer { Server() }
    }

    override func tearDown() async throws {
        connections.shutdown()
        try await server.close()
        try await loop.shutdownGracefully()
    }

    private func send(_ path: String, body: String? = nil, within timeout: TimeAmount = .seconds(10)) async throws
        -> UpstreamConnections.Answer
    {
        let request = UpstreamConnections.Request(
            method: body == nil ? .GET : .POST, target: path, headers: ["x-test": "1"], body: body.map { ByteBuffer(string: $0) })
        return try await connections.send(request, host: "127.0.0.1", port: port, deadline: .now() + timeout)
    }

    func testAnswersComeWholeAndTheConnectionIsKeptForTheNextRequest() async throws {
        let first = try await send("/echo", body: #"{"bookId": "b1"}"#)
        XCTAssertEqual(first.status, 201)
        XCTAssertEqual(String(buffer: first.body), #"{"bookId": "b1"}"#, "the body, with its content-length")
        XCTAssertEqual(first.headers.first(name: "content-type"), "text/plain")
        for index in 0..<5 { _ = try await send("/echo", body: "\(index)") }
        XCTAssertEqual(Server.accepted.load(ordering: .relaxed), 1, "one keep-alive connection for six requests")
    }

    func testAConnectionTheInstanceClosesIsNotUsedAgain() async throws {
        _ = try await send("/close", body: "x")
        let next = try await send("/echo", body: "y")
        XCTAssertEqual(String(buffer: next.body), "y")
        XCTAssertEqual(Server.accepted.load(ordering: .relaxed), 2, "a new connection after `Connection: close`")
    }

    func testPastTheDeadlineItTimesOutAndDropsTheConnection() async throws {
        do {
            _ = try await send("/slow", within: .milliseconds(200))
            XCTFail("no answer was expected")
        } catch let failure as UpstreamConnections.Failure {
            XCTAssertEqual(failure, .timedOut)
        }
        _ = try await send("/echo", body: "z")
        XCTAssertEqual(Server.accepted.load(ordering: .relaxed), 2, "the timed-out connection was closed, not reused")
    }

    /// The deadline is watched per connection (``ExchangeHandler``): a check scheduled for a long
    /// deadline must not stand in for a shorter one that comes after it on the same connection.
    func testAShorterDeadlineAfterALongerOneOnTheSameConnectionIsKept() async throws {
        _ = try await send("/echo", body: "long", within: .seconds(20))
        let start = ContinuousClock.now
        do {
            _ = try await send("/slow", within: .milliseconds(200))
            XCTFail("no answer was expected")
        } catch let failure as UpstreamConnections.Failure {
            XCTAssertEqual(failure, .timedOut)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10), "timed out by its own deadline, not the first one's check")
        XCTAssertEqual(Server.accepted.load(ordering: .relaxed), 1, "both went on one connection")
    }

    /// A check scheduled for the first exchange's deadline that finds the next one in flight and in
    /// time watches that one's deadline instead.
    func testACheckThatFindsTheNextExchangeInTimeWatchesItsDeadline() async throws {
        _ = try await send("/echo", body: "first", within: .milliseconds(300))
        // Unwatched, the exchange would wait for ever: the test waits for it with a limit.
        let timedOut = expectation(description: "the second exchange timed out")
        let (connections, port) = (connections, port)
        Task {
            do {
                _ = try await connections.send(
                    .init(method: .GET, target: "/slow", headers: [:]), host: "127.0.0.1", port: port, deadline: .now() + .seconds(1))
            } catch let failure as UpstreamConnections.Failure where failure == .timedOut {
                timedOut.fulfill()
            }
        }
        await fulfillment(of: [timedOut], timeout: 30)
        XCTAssertEqual(Server.accepted.load(ordering: .relaxed), 1, "both went on one connection")
    }

    func testARefusedConnectionIsNotConnectedAndAnOversizedAnswerIsRefused() async throws {
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let unused = closed.localAddress!.port!
        try await closed.close()
        do {
            _ = try await connections.send(
                .init(method: .GET, target: "/", headers: [:]), host: "127.0.0.1", port: unused, deadline: .now() + .seconds(5))
            XCTFail("nothing listens there")
        } catch let failure as UpstreamConnections.Failure {
            guard case .notConnected = failure else { return XCTFail("\(failure)") }
        }
        do {
            _ = try await send("/big", body: "")
            XCTFail("9 MiB is over the limit")
        } catch let failure as UpstreamConnections.Failure {
            XCTAssertEqual(failure, .answerTooLarge)
        }
    }
}
