import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP/1.1 server on a free loopback port (`localAddress`), each connection served by a new
/// `handler()`: an instance for the gateway to forward to.
func startLoopbackHTTPServer(handler: @escaping @Sendable () -> any ChannelHandler) async throws -> any Channel {
    try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(handler())
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
}
