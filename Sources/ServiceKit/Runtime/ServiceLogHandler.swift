import Logging

/// swift-log's `StreamLogHandler`, with its metadata kept aside until a line is written.
///
/// Why: `StreamLogHandler` formats its metadata into text whenever it is set, and Hummingbird sets
/// a request id on every request's logger, so every request paid for formatting it (and for its
/// `RequestID`'s description): 3.5 % of the gateway's CPU at 500 orders/s (perf), for lines
/// almost never written. Here the metadata is formatted only with a line. The lines are the
/// stream handler's own, byte for byte: it writes them.
public struct ServiceLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata = Logger.Metadata()

    public init(_ stream: StreamLogHandler) { self.stream = stream }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var writer = stream
        writer.metadata = metadata
        writer.log(event: event)
    }
}
