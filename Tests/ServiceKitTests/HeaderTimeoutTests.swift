import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOPosix
import ProcessSupport
import ServiceKit
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// ``HeaderTimeoutHandler`` on a real server and a real socket, with short timeouts: its deadline
/// is watched without a timer per request (``DeadlineWatch``), so each way a deadline moves is here.
final class HeaderTimeoutTests: XCTestCase {
    static let first = TimeAmount.milliseconds(300)
    static let next = TimeAmount.milliseconds(1500)

    /// Answers 200 at once, except `/hold`, never answered.
    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPRequestPart
        typealias OutboundOut = HTTPResponsePart
        private var path = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): path = head.path ?? ""
            case .body: break
            case .end:
                guard path != "/hold" else { return }
                context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"]))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    /// The server's timeout handlers, held weakly.
    final class Handlers: @unchecked Sendable {
        private struct Weak { weak var handler: HeaderTimeoutHandler? }
        private let lock = NSLock()
        private var handlers: [Weak] = []

        func add(_ handler: HeaderTimeoutHandler) { lock.withLock { handlers.append(Weak(handler: handler)) } }
        var alive: Int { lock.withLock { handlers.count { $0.handler != nil } } }
    }

    private var server: (any Channel)!
    private let handlers = Handlers()

    override func setUp() async throws {
        server = try await Self.startServer(first: Self.first, handlers: handlers)
    }

    private static func startServer(first: TimeAmount, handlers: Handlers) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    let timeout = HeaderTimeoutHandler(first: first, next: Self.next)
                    handlers.add(timeout)
                    try operations.configureHTTPServerPipeline()
                    try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                    try operations.addHandler(timeout)
                    try operations.addHandler(Responder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    override func tearDown() async throws {
        try await server.close()
    }

    func testAConnectionThatSendsNoHeadIsClosed() throws {
        let socket = try connect()
        defer { close(socket) }
        XCTAssertTrue(Self.closes(socket, within: .seconds(10)), "closed after `first` without a head")
    }

    /// The check scheduled for `first` finds the head due later (`next` after the answer), and
    /// watches that instead: the connection stays open past `first` and is closed after `next`.
    func testAKeptAliveConnectionIsClosedOnlyOnceItsNextHeadIsLate() throws {
        let socket = try connect()
        defer { close(socket) }
        XCTAssertTrue(Self.exchange(socket, "/ok"))
        XCTAssertFalse(Self.closes(socket, within: .milliseconds(700)), "open past `first`, within `next` of the answer")
        XCTAssertTrue(Self.closes(socket, within: .seconds(10)), "closed once no head came within `next`")
    }

    /// While a request is in hand no head is due, however long its answer takes.
    func testARequestInHandIsNotCutOff() throws {
        let socket = try connect()
        defer { close(socket) }
        Self.send(socket, "/hold")
        XCTAssertFalse(Self.closes(socket, within: .milliseconds(2200)), "open past `first` + `next` while its request is in hand")
    }

    /// A check scheduled for a minute ahead holds its connection's handler weakly: a connection
    /// closed meanwhile is freed at once, not a minute later.
    func testAClosedConnectionIsNotKeptUntilItsCheck() async throws {
        let handlers = Handlers()
        let patient = try await Self.startServer(first: .seconds(60), handlers: handlers)
        guard let socket = TCPPort.connect(to: patient.localAddress!.port!) else { throw ChannelError.connectPending }
        XCTAssertTrue(Self.exchange(socket, "/ok"))
        XCTAssertEqual(handlers.alive, 1)
        close(socket)
        let deadline = ContinuousClock.now + .seconds(20)
        while handlers.alive > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertEqual(handlers.alive, 0, "the closed connection's handler was freed before its check")
        try await patient.close()
    }

    private func connect() throws -> Int32 {
        guard let socket = TCPPort.connect(to: server.localAddress!.port!) else { throw ChannelError.connectPending }
        return socket
    }

    private static func send(_ socket: Int32, _ path: String) {
        let request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n"
        _ = request.withCString { Glibc.send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Sends a request and reads its whole answer (a head, no body); false if the connection closed.
    private static func exchange(_ socket: Int32, _ path: String) -> Bool {
        send(socket, path)
        var received = ""
        while !received.hasSuffix("\r\n\r\n") {
            guard let chunk = read(socket, within: .seconds(10)), !chunk.isEmpty else { return false }
            received += chunk
        }
        return received.hasPrefix("HTTP/1.1 200")
    }

    /// Whether the server closes the connection within `limit` (reading what comes meanwhile).
    private static func closes(_ socket: Int32, within limit: TimeAmount) -> Bool {
        let deadline = NIODeadline.now() + limit
        while NIODeadline.now() < deadline {
            guard let chunk = read(socket, within: deadline - .now()) else { continue }
            if chunk.isEmpty { return true }
        }
        return false
    }

    /// What one read brings: nil if nothing came within `limit`, "" at the end of the stream.
    private static func read(_ socket: Int32, within limit: TimeAmount) -> String? {
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(max(1, limit.nanoseconds / 1_000_000))) > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = recv(socket, &bytes, bytes.count, 0)
        return count <= 0 ? "" : String(decoding: bytes.prefix(count), as: UTF8.self)
    }
}
