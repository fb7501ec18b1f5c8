import NIOCore

/// A channel handler whose connection waits for something by a deadline (a request's head, an
/// upstream's answer) that is set and cleared on every request: ``watchDeadline(context:)`` after
/// setting it, and ``deadlinePassed(context:)`` is called once it has passed with the deadline
/// still set. Touched only on the connection's event loop, as its handler is.
///
/// The deadline is watched by timers that are never cancelled (``DeadlineWatch``): a check is
/// scheduled only when none is due by the deadline, and a check that finds the deadline moved on
/// watches the new one. Under load that is one timer per connection per timeout instead of two
/// timer operations per request, and an idle connection has none once its check has run. A check
/// holds its handler and the handler's context weakly: a connection closed meanwhile is freed, not
/// kept until its check (up to a timeout later, which under connection churn would add up).
///
/// Why: a timer per request, scheduled and then cancelled, cost the gateway 2.5 % of its CPU at
/// 1,500 orders/s (`perf`) for its upstream answers and 1.2 % more for its request heads: NIO's
/// cancel takes the event loop's task lock and searches the loop's heap of timers, one by one, for
/// the one to remove. Rejected: a repeating check per connection (it wakes an idle server's loop
/// for nothing), and a sweep per loop over its connections (a registry per loop that every
/// connection shares, for the same saving).
public protocol DeadlineWatcher: AnyObject {
    var deadlineWatch: DeadlineWatch { get set }
    /// When what the connection waits for is due; nil while it waits for nothing.
    var deadline: NIODeadline? { get }
    /// The deadline passed with the deadline still set.
    func deadlinePassed(context: ChannelHandlerContext)
}

/// The checks a ``DeadlineWatcher`` has scheduled.
public struct DeadlineWatch {
    /// The earliest check scheduled and not yet run (later ones may be pending too: they find the
    /// deadline in the future or gone and do nothing more).
    @usableFromInline var checkAt: NIODeadline?

    public init() {}
}

extension DeadlineWatcher {
    /// Makes sure a check runs by ``deadline``: call it whenever the deadline is set. (Inlinable:
    /// it runs on every request, and specialised for the handler it is a few loads.)
    @inlinable
    public func watchDeadline(context: ChannelHandlerContext) {
        guard let due = deadline else { return }
        if let checkAt = deadlineWatch.checkAt, checkAt <= due { return }
        deadlineWatch.checkAt = due
        let bound = NIOLoopBound(WeakCheck(watcher: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: due) {
            guard let watcher = bound.value.watcher, let context = bound.value.context else { return }
            watcher.checkDeadline(scheduledFor: due, context: context)
        }
    }

    @usableFromInline
    func checkDeadline(scheduledFor: NIODeadline, context: ChannelHandlerContext) {
        if deadlineWatch.checkAt == scheduledFor { deadlineWatch.checkAt = nil }
        guard let due = deadline else { return }
        guard due <= .now() else { return watchDeadline(context: context) }
        deadlinePassed(context: context)
    }
}

/// What a scheduled check needs, held weakly (see ``DeadlineWatcher``).
@usableFromInline
struct WeakCheck<Watcher: AnyObject> {
    @usableFromInline weak var watcher: Watcher?
    @usableFromInline weak var context: ChannelHandlerContext?

    @usableFromInline
    init(watcher: Watcher, context: ChannelHandlerContext) {
        self.watcher = watcher
        self.context = context
    }
}
