import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// Reads one answer at a time on a connection and hands it to the generator.
final class AnswerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    weak var generator: LoadGenerator?
    var connection: LoadGenerator.Connection?
    var pending: PlannedRequest?
    private var status = 0
    /// A 503's `Retry-After` in seconds (the gateway gives whole seconds).
    private var retryAfter: Int?
    private var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            retryAfter = head.headers.first(name: "retry-after").flatMap { Int($0) }
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let request = pending else { return }
            pending = nil
            generator?.answered(request, status: status, body: body, retryAfter: retryAfter, on: connection)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection { generator?.closed(connection) }
        if let request = pending {
            pending = nil
            generator?.answered(request, status: 0, body: ByteBuffer(), on: nil)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
