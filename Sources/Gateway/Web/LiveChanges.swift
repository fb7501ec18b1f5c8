import Contracts
import Foundation
import Logging
import Redis
import ServiceLifecycle
import Synchronization

/// Follows Lookup's changes (`lookup:changes`, written in the same script as each view) and hands
/// them to the open live pages, for Server-Sent Events. A page that hears of a change reads the view
/// again, which by then has changed. Without Redis the pages are not live (they still work).
///
/// A page is rendered before it subscribes: a change in between would go unheard and the page stay
/// behind for good. So a page carries the ``position`` it was rendered at (read before its views),
/// and subscribes ``since`` it: if the feed has moved on by then, the subscriber hears
/// ``Signal/missed`` first and reads again. Registering and comparing happen under the lock that
/// also moves the position and broadcasts, so every change is either before the comparison or heard.
///
/// The feed is read only while a page listens. Reading it for nobody cost the gateway a Redis round
/// trip per change or two, each a hop to the connection's thread and back with its `futex` calls:
/// 18 % of the gateway's samples in `perf` at 400 orders/s, for no page at all. With nobody
/// listening, the position is "" (not known): a page subscribing then hears ``Signal/missed`` only
/// once the feed has found where it is, so that what it reads again is after that position and
/// every later change is heard. Rejected: following on from the old position when a page comes
/// (an hour without pages would be replayed to it); a position kept fresh by polling the newest id
/// (the same round trips, fewer bytes).
final class LiveChanges: Service, Sendable {
    /// One change of a rental's view.
    struct Change: Sendable, Equatable {
        var rentalId: String
        var customerId: String
    }

    /// What a subscriber hears: a change; that changes may have come since its page was rendered;
    /// or a heartbeat that keeps its connection open.
    enum Signal: Sendable, Equatable {
        case change(Change)
        case missed
        case heartbeat
    }

    /// The subscribers' streams and the id of the newest change handed to them ("" before the feed
    /// is read), or closed once the gateway shuts down.
    private enum State {
        case open([UUID: AsyncStream<Signal>.Continuation], position: String)
        case closed
    }

    static let heartbeatInterval: Duration = .seconds(15)
    /// Bounds what a slow page may fall behind: it only needs the newest changes to read again.
    static let bufferedSignals = 64

    private let client: RedisClient
    private let logger: Logger
    private let state = Mutex(State.open([:], position: ""))
    /// Wakes the feed when a page subscribes while nobody listened.
    private let listeners: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)

    init(client: RedisClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.listeners = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Where the feed is: what a page reads before its views, to subscribe ``since`` it.
    var position: String {
        state.withLock { state in
            guard case .open(_, let position) = state else { return "" }
            return position
        }
    }

    /// A stream of what happens from now on, starting with ``Signal/missed`` when the feed is no
    /// longer at `since`, or, when it does not know where it is, as soon as it does; nil once the
    /// gateway is shutting down. Call ``unsubscribe(_:)`` with the id when done.
    func subscribe(since: String?) -> (id: UUID, signals: AsyncStream<Signal>)? {
        let (signals, continuation) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .bufferingNewest(Self.bufferedSignals))
        let id = UUID()
        let subscribed = state.withLock { state in
            guard case .open(var subscribers, let position) = state else { return false }
            subscribers[id] = continuation
            state = .open(subscribers, position: position)
            // An unknown position: the feed tells every subscriber once it knows it (``follow()``).
            if !position.isEmpty && since != position { continuation.yield(.missed) }
            return true
        }
        guard subscribed else { return nil }
        listeners.continuation.yield()
        return (id, signals)
    }

    func unsubscribe(_ id: UUID) {
        let continuation: AsyncStream<Signal>.Continuation? = state.withLock { state in
            guard case .open(var subscribers, let position) = state else { return nil }
            let removed = subscribers.removeValue(forKey: id)
            state = .open(subscribers, position: position)
            return removed
        }
        continuation?.finish()
    }

    var subscriberCount: Int {
        state.withLock { state in
            guard case .open(let subscribers, _) = state else { return 0 }
            return subscribers.count
        }
    }

    /// Hands `signal` to every subscriber; with `position`, moves the feed there in the same turn.
    private func broadcast(_ signal: Signal?, position newPosition: String? = nil) {
        state.withLock { state in
            guard case .open(let subscribers, _) = state else { return }
            if let newPosition { state = .open(subscribers, position: newPosition) }
            guard let signal else { return }
            for continuation in subscribers.values { continuation.yield(signal) }
        }
    }

    /// Ends every subscriber's stream: their responses finish, and the HTTP server can stop.
    private func close() {
        let subscribers: [AsyncStream<Signal>.Continuation] = state.withLock { state in
            guard case .open(let subscribers, _) = state else { return [] }
            state = .closed
            return Array(subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
        listeners.continuation.finish()
    }

    func run() async throws {
        // The HTTP server stops before this service hears of the shutdown (reverse order), and it
        // waits for open responses: the live pages' streams are ended as soon as the shutdown begins
        // (the handlers end theirs themselves, see ``WebApp``); this loop ends with its own signal.
        await cancelWhenGracefulShutdown {
            await self.follow()
        }
        close()
        client.close()
    }

    private func follow() async {
        var lastHeartbeat = ContinuousClock.now
        var failures = 0
        var wakeUps = listeners.stream.makeAsyncIterator()
        while !Task.isCancelled {
            guard isListenedTo() else {
                // Nobody listens: wait for a page (nil: cancelled or closed).
                guard await wakeUps.next() != nil else { return }
                continue
            }
            do {
                var after = position  // the feed's own position: where the next read starts
                if after.isEmpty {
                    // Start after the newest change, and only then tell the pages to read again:
                    // what they read is as new as this position, and every change after it is heard.
                    let newest = try await client.command(["XREVRANGE", Streams.lookupChanges, "+", "-", "COUNT", "1"]).orThrow()
                    after = StreamEntry.parseList(stream: Streams.lookupChanges, newest).first?.id ?? "0-0"
                    broadcast(.missed, position: after)
                }
                let read = ["XREAD", "COUNT", "200", "BLOCK", "1000", "STREAMS", Streams.lookupChanges, after]
                let reply = try await client.command(read, blocking: .seconds(1))
                failures = 0
                for entry in StreamEntry.parseRead(try reply.orThrow()) {
                    guard let rentalId = entry.value(of: "rentalId"), let customerId = entry.value(of: "customerId") else {
                        broadcast(nil, position: entry.id)
                        continue
                    }
                    broadcast(.change(Change(rentalId: rentalId, customerId: customerId)), position: entry.id)
                }
            } catch {
                failures += 1
                if failures == 1 { logger.warning("live changes: cannot read \(Streams.lookupChanges): \(error)") }
                // The client backs off its reconnects; a page that misses changes reads again on reconnect.
                try? await Task.sleep(for: .milliseconds(200))
            }
            if ContinuousClock.now - lastHeartbeat >= Self.heartbeatInterval {
                lastHeartbeat = .now
                broadcast(.heartbeat)
            }
        }
    }

    /// Whether a page listens; when none does, the position is forgotten in the same turn, so that
    /// a page subscribing from then on waits for the feed to find it again.
    private func isListenedTo() -> Bool {
        state.withLock { state in
            guard case .open(let subscribers, _) = state else { return false }
            if subscribers.isEmpty { state = .open(subscribers, position: "") }
            return !subscribers.isEmpty
        }
    }
}
