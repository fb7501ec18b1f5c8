import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import XCTest

@testable import Benchmarks

/// The benchmark's load generator against a real server on a loopback port.
final class LoadGeneratorTests: XCTestCase {
    /// Answers `/shed` 503 with `Retry-After: 1`, `/refuse` 503 without it, and counts the requests per path.
    final class Refusing: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        static let requests = Mutex<[String: Int]>([:])
        private var path = ""

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): path = head.uri
            case .body: break
            case .end:
                Self.requests.withLock { $0[path, default: 0] += 1 }
                var headers: HTTPHeaders = ["content-length": "0"]
                if path == "/shed" { headers.add(name: "retry-after", value: "1") }
                context.write(wrapOutboundOut(.head(.init(version: .http1_1, status: .serviceUnavailable, headers: headers))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }

    func testTheClosedLoopWaitsA503sRetryAfterBeforeItsConnectionsNextRequest() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Refusing())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        let generator = LoadGenerator(loop: MultiThreadedEventLoopGroup.singleton.next())
        try await generator.connect(port: port, count: 1)

        func closedLoop(_ path: String) async throws -> PhaseResults {
            try await generator.closedLoop(duration: .milliseconds(300), concurrency: 1) {
                PlannedRequest(route: path, port: port, method: .GET, path: path, headers: [:], intended: .now())
            }
        }
        let shed = try await closedLoop("/shed")
        XCTAssertEqual(Refusing.requests.withLock { $0["/shed"] }, 1, "told to come back in 1 s, not within the 300 ms window")
        XCTAssertEqual(shed.retryAfter["/shed"], 1)
        _ = try await closedLoop("/refuse")
        XCTAssertGreaterThanOrEqual(Refusing.requests.withLock { $0["/refuse"] ?? 0 }, 2, "a 503 that says nothing is asked again at once")
        await generator.close()
        try await server.close()
    }
}
