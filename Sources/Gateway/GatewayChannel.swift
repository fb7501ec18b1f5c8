import Foundation
import HummingbirdCore
import Logging
import NIOCore
import ServiceKit
import Synchronization

/// The gateway's connections: Hummingbird's HTTP/1.1 channel, each connection's handler on its own
/// event loop (``EventLoopBoundChannel``), with ``APIChannelHandler`` serving the API's requests
/// before they reach the router.
struct GatewayChannel: ServerChildChannel {
    typealias Value = EventLoopBoundChannel<HTTP1Channel>.Value
    let base: EventLoopBoundChannel<HTTP1Channel>
    let api: PublicAPI
    let pressures: LoopPressures?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // After the connection's state handler, which so sees every request (see the handler).
            let operations = channel.pipeline.syncOperations
            let state = try operations.handler(type: HTTPConnectionStateHandler.self)
            try operations.addHandler(
                APIChannelHandler(api: api, pressure: pressures?.pressure(on: channel.eventLoop), eventLoop: channel.eventLoop),
                position: .after(state))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

extension HTTPServerBuilder {
    /// ``HTTPServerBuilder/eventLoopBoundHTTP1`` with the API served in the pipeline, turning
    /// requests away while a loop is too busy by `pressures`.
    static func gateway(_ api: PublicAPI, pressures: LoopPressures?) -> HTTPServerBuilder {
        .init { responder in
            GatewayChannel(base: EventLoopBoundChannel(HTTP1Channel.serviceHTTP1(responder: responder)), api: api, pressures: pressures)
        }
    }
}

/// `Date` for the answers the gateway makes itself (a forwarded answer keeps its instance's), as
/// RFC 9110's IMF-fixdate, formatted once a second.
enum HTTPDate {
    private static let cache = Mutex((second: 0, text: ""))

    static func now() -> String {
        var seconds = time(nil)
        return cache.withLock { cached in
            if cached.second != seconds {
                var parts = tm()
                gmtime_r(&seconds, &parts)
                var text = [CChar](repeating: 0, count: 40)
                // The process's locale is C (nothing calls setlocale), so the names are English.
                strftime(&text, text.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
                cached = (seconds, String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            return cached.text
        }
    }
}
