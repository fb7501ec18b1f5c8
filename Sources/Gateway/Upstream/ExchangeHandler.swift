import NIOCore
import NIOHTTP1
import ServiceKit

/// The end of an upstream connection's pipeline: writes an ``Exchange``'s request in one flush and
/// completes its promise with the whole answer, or with why there is none: the connection broke or
/// closed, or the exchange's deadline passed (the connection is then closed). One exchange at a
/// time (HTTP/1.1 without pipelining); the connection goes back to its pool only after the answer's end.
///
/// The deadline is watched by a ``DeadlineWatch``: no timer per exchange.
final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var current: Exchange?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var watch = DeadlineWatch()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard current == nil else {
            exchange.promise.fail(UpstreamConnections.Failure.broken("the connection is busy"))
            return
        }
        (current, head, body) = (exchange, nil, nil)
        watch(exchange.deadline, context: context)
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

    /// Makes sure a check runs by `deadline`.
    private func watch(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        guard watch.mustSchedule(by: deadline) else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.check(scheduledFor: deadline, context: context)
        }
    }

    /// Times the exchange in flight out if its deadline has passed, else watches for it.
    private func check(scheduledFor: NIODeadline, context: ChannelHandlerContext) {
        watch.ran(scheduledFor: scheduledFor)
        guard let exchange = current else { return }
        guard exchange.deadline <= .now() else { return watch(exchange.deadline, context: context) }
        fail(.timedOut)
        context.close(promise: nil)
    }

    private func fail(_ failure: UpstreamConnections.Failure) {
        guard let exchange = current else { return }
        current = nil
        exchange.promise.fail(failure)
    }
}
