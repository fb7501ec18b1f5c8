import NIOCore
import NIOHTTP1
import ServiceKit

/// The end of an upstream connection's pipeline: writes an ``Exchange``'s request in one flush and
/// completes its promise with the whole answer, or with why there is none: the connection broke or
/// closed, or the exchange's deadline passed (the connection is then closed). One exchange at a
/// time (HTTP/1.1 without pipelining); the connection goes back to its pool only after the answer's end.
///
/// The deadline is watched as a ``DeadlineWatcher``'s: no timer per exchange.
final class ExchangeHandler: ChannelDuplexHandler, DeadlineWatcher {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var current: Exchange?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    var deadlineWatch = DeadlineWatch()
    var deadline: NIODeadline? { current?.deadline }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard current == nil else {
            exchange.promise.fail(UpstreamConnections.Failure.broken("the connection is busy"))
            return
        }
        (current, head, body) = (exchange, nil, nil)
        watchDeadline(context: context)
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
            if body!.readableBytes > UpstreamConnections.maximumAnswerSize {
                fail(.answerTooLarge)
                context.close(promise: nil)
            }
        case .end:
            guard let exchange = current, let head else { return }
            current = nil
            let answer = UpstreamConnections.Answer(status: Int(head.status.code), headers: head.headers, body: body ?? ByteBuffer())
            (self.head, body) = (nil, nil)
            exchange.promise.succeed((answer, keepAlive: head.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.broken("the instance closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.broken("\(error)"))
        context.close(promise: nil)
    }

    func deadlinePassed(context: ChannelHandlerContext) {
        fail(.timedOut)
        context.close(promise: nil)
    }

    private func fail(_ failure: UpstreamConnections.Failure) {
        guard let exchange = current else { return }
        current = nil
        exchange.promise.fail(failure)
    }
}
