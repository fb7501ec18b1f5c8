import HTTPTypes
import Hummingbird
import Logging
import Synchronization

/// The id that follows one request from the gateway into a service, its log lines and the events
/// it causes: `X-Request-Id`, which the gateway sets on every call (keeping a sensible one a client
/// sent). A service takes it from the request (``RequestIDMiddleware``); ``DomainEvent/outgoing(causedBy:)``
/// writes it into each event's envelope, and an event caused by another carries the cause's on, so
/// `redis-cli XRANGE` and the logs connect a click to every event it led to.
public enum RequestID {
    public static let header = HTTPField.Name("X-Request-Id")!
    /// The id of the request being handled; nil outside one. ``GroupCommit`` carries it into the
    /// transaction that applies the request's change.
    @TaskLocal public static var current: String?

    /// `text` when it is a sensible id (1 to 128 visible ASCII characters), else nil: an id is
    /// logged and stored, so nothing else is taken from a header.
    public static func accepted(_ text: String?) -> String? {
        guard let text, (1...128).contains(text.utf8.count), text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        return text
    }

    /// A new id: this process's random 48-bit prefix and a counter (its low 48 bits), e.g.
    /// `3f9a1c2b7d4e-00000000001a`. Unique across processes without asking the kernel for randomness
    /// per request, as `UUID()` does (a `getrandom` call: 1 % of the gateway's CPU at 500 orders/s);
    /// written as hex digits into the string's own storage (formatting the counter and padding it
    /// took three strings per id: 1 % of the gateway's CPU at 400 orders/s).
    public static func make() -> String {
        hex(prefix, counter.add(1, ordering: .relaxed).newValue)
    }

    /// Two 48-bit numbers as 12 hex digits each, joined by `-`.
    static func hex(_ first: UInt64, _ second: UInt64) -> String {
        String(unsafeUninitializedCapacity: 25) { text in
            func write(_ number: UInt64, at offset: Int) {
                for place in 0..<12 {
                    let digit = UInt8((number >> UInt64(44 - 4 * place)) & 0xF)
                    text[offset + place] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                }
            }
            write(first, at: 0)
            text[12] = UInt8(ascii: "-")
            write(second, at: 13)
            return 25
        }
    }

    private static let prefix = UInt64.random(in: 0..<(1 << 48))
    private static let counter = Atomic<UInt64>(0)
}

/// Takes a request's `X-Request-Id`: its log lines carry it (`request_id`), the events it causes
/// carry it (``RequestID/current``), and the answer returns it.
public struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let id = RequestID.accepted(request.headers[RequestID.header]) else { return try await next(request, context) }
        var context = context
        context.logger[metadataKey: "request_id"] = "\(id)"
        var response = try await RequestID.$current.withValue(id) { try await next(request, context) }
        response.headers[RequestID.header] = id
        return response
    }
}
