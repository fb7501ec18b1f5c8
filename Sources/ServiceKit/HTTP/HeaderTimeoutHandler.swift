import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request head does not arrive in time, so that a slowloris client,
/// sending its headers a byte at a time, cannot hold connections: the idle timeout alone is reset
/// by every byte. A head must be complete within `first` of connecting and within `next` of the
/// previous answer (the keep-alive idle time). The deadline is watched by a ``DeadlineWatch``: no
/// timer per request.
public final class HeaderTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let first: TimeAmount
    private let next: TimeAmount
    /// When the next head is due; nil while a request is in hand, or once the handler is removed.
    private var headDue: NIODeadline?
    private var watch = DeadlineWatch()

    public init(first: TimeAmount = .seconds(10), next: TimeAmount = .seconds(30)) {
        self.first = first
        self.next = next
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { expectHead(context, within: first) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        expectHead(context, within: first)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        headDue = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { headDue = nil }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { expectHead(context, within: next) }
        context.write(data, promise: promise)
    }

    private func expectHead(_ context: ChannelHandlerContext, within delay: TimeAmount) {
        let due = NIODeadline.now() + delay
        headDue = due
        watch(due, context)
    }

    private func watch(_ due: NIODeadline, _ context: ChannelHandlerContext) {
        guard watch.mustSchedule(by: due) else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = bound.value
            handler.check(scheduledFor: due, context: context)
        }
    }

    private func check(scheduledFor: NIODeadline, context: ChannelHandlerContext) {
        watch.ran(scheduledFor: scheduledFor)
        guard let headDue else { return }
        guard headDue <= .now() else { return watch(headDue, context) }
        context.close(promise: nil)
    }
}
