import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ProcessSupport
import Synchronization
import TestSupport
import XCTest

@testable import Benchmarks

/// The reference hop: a real HAProxy (the test command installs it) in front of a real server.
final class ReferenceProxyTests: XCTestCase {
    /// Answers every request 200 `upstream`; counts the connections it accepted.
    final class Upstream: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        static let connections = Mutex(0)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let headers: HTTPHeaders = ["content-length": "8"]
            context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "upstream")))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func testItForwardsOverKeptAliveConnectionsAsTheGatewaysPoolDoes() async throws {
        let haproxy = try XCTUnwrap(try ReferenceProxy.executable(nil), "haproxy not on PATH: the test command installs it")
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                Upstream.connections.withLock { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Upstream())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let directory = try TemporaryDirectory.make(prefix: "reference-proxy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let proxy = try ReferenceProxy(executable: haproxy, upstream: server.localAddress!.port!, directory: directory)
        defer { proxy.stop() }
        XCTAssertEqual(PlainHTTP.get(port: proxy.port, path: "/anything")?.body, "upstream")

        let before = Upstream.connections.withLock { $0 }
        let answered = Self.requestsAnswered(100, port: proxy.port)
        XCTAssertEqual(answered, 100, "answered over one client connection kept alive")
        // A proxy that opened a connection per request would measure TCP set-up, not a hop.
        XCTAssertLessThanOrEqual(Upstream.connections.withLock { $0 } - before, 1, "kept-alive connections upstream")
        XCTAssertGreaterThan(proxy.cpuSeconds, 0)
        try await server.close()
    }

    /// Sends `count` requests one after the other on one connection; how many were answered `upstream`
    /// before it closed.
    static func requestsAnswered(_ count: Int, port: Int) -> Int {
        guard let socket = TCPPort.connect(to: port) else { return 0 }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        var buffer = [UInt8](repeating: 0, count: 4096)
        for answered in 0..<count {
            guard send(socket, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return answered }
            var text = ""
            while !text.hasSuffix("upstream") {
                let read = recv(socket, &buffer, buffer.count, 0)
                guard read > 0 else { return answered }
                text += String(decoding: buffer[0..<read], as: UTF8.self)
            }
        }
        return count
    }

    func testNoneSkipsItAndAPathThatIsNotAProgramIsRefused() throws {
        XCTAssertNil(try ReferenceProxy.executable("none"))
        XCTAssertThrowsError(try ReferenceProxy.executable("/nonexistent/haproxy")) { XCTAssertTrue($0 is ValidationError) }
    }
}
