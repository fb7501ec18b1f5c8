import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request head does not arrive in time, so that a slowloris client,
/// sending its headers a byte at a time, cannot hold connections: the idle timeout alone is reset
/// by every byte. A head must be complete within `first` of connecting and within `next` of the
/// previous answer (the keep-alive idle time). The deadline is watched as a ``DeadlineWatcher``'s:
/// no timer per request.
public final class HeaderTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler, DeadlineWatcher {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let first: TimeAmount
    private let next: TimeAmount
    /// When the next head is due; nil while a request is in hand, or once the handler is removed.
    public private(set) var deadline: NIODeadline?
    public var deadlineWatch = DeadlineWatch()

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
        deadline = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { deadline = nil }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { expectHead(context, within: next) }
        context.write(data, promise: promise)
    }

    private func expectHead(_ context: ChannelHandlerContext, within delay: TimeAmount) {
        deadline = .now() + delay
        watchDeadline(context: context)
    }

    public func deadlinePassed(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}
