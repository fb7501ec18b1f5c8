import HummingbirdCore
import Logging
import NIOCore

/// A NIO event loop as a `TaskExecutor`: a task that prefers it runs its jobs on the loop's thread.
///
/// Why: Hummingbird runs each connection's handler as a task on Swift's cooperative pool, so every
/// request crossed threads twice (the loop reads it, the pool handles it, the loop writes the
/// answer), and a proxy's request twice more (the HTTP client's loop sends it upstream and reads
/// the answer). Each crossing wakes a thread (a futex), which in this VM cost more CPU than the
/// gateway's own work. With the connection's handler preferring its loop
/// (``EventLoopBoundChannel``), the request, the forwarded request (AsyncHTTPClient picks the
/// caller's loop, `EventLoopGroup.any()`, and a connection on it) and the answer stay on one thread.
/// Rejected: NIO's own executor for the loop (`EventLoop.executor`) is a `SerialExecutor` for
/// actors, not a task executor, in the NIO this builds with; running the handler with
/// `EventLoopFuture`s instead of async code would mean rewriting the gateway against Hummingbird's
/// async router.
///
/// The price: a handler that blocks blocks the connection's loop and every connection on it, so
/// only code that never blocks may run there (the gateway's: no SQLite, and its Redis calls go to
/// their own threads).
public final class EventLoopExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}

/// A server channel whose connections' handlers run on their own event loop (``EventLoopExecutor``).
public struct EventLoopBoundChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value
    let base: Base

    public init(_ base: Base) { self.base = base }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> { base.setup(channel: channel, logger: logger) }

    public func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// ``ServiceRuntime/httpServer``, each connection's handler on its own event loop.
    public static var eventLoopBoundHTTP1: HTTPServerBuilder {
        .init { responder in EventLoopBoundChannel(HTTP1Channel.serviceHTTP1(responder: responder)) }
    }
}

extension HTTP1Channel {
    /// The services' HTTP/1.1 channel: a head must come in time (``HeaderTimeoutHandler``), an
    /// idle connection closes after 30 s.
    public static func serviceHTTP1(responder: @escaping HTTPChannelHandler.Responder) -> HTTP1Channel {
        HTTP1Channel(
            responder: responder, configuration: .init(additionalChannelHandlers: [HeaderTimeoutHandler()], idleTimeout: .seconds(30)))
    }
}
