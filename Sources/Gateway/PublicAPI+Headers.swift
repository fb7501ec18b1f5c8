import Foundation
import HTTPTypes
import NIOHTTP1
import ServiceKit

/// Which headers cross the gateway, each way.
extension PublicAPI {
    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length",
    ]

    /// Whether `name` is one of ``hopByHop`` in any case, without the lowercased copy of each
    /// answer's every header that `lowercased()` made.
    static func isHopByHop(_ name: String) -> Bool {
        hopByHop.contains { candidate in
            candidate.utf8.count == name.utf8.count
                && zip(candidate.utf8, name.utf8).allSatisfy { $0 == ((65...90).contains($1) ? $1 | 0x20 : $1) }
        }
    }

    /// The call's headers as an instance gets them: without hop-by-hop ones (and those the
    /// `Connection` header names), with the request id and the client's address.
    func forwardedHeaders(_ call: Call, requestId: String) -> HTTPHeaders {
        let named =
            call.headers.value(.connection).map {
                Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
            } ?? []
        var headers = HTTPHeaders()
        for field in call.headers {
            let name = field.name.canonicalName
            guard !Self.hopByHop.contains(name), !named.contains(name), name != "x-request-id", name != "x-forwarded-for", name != "cookie"
            else { continue }
            // With tracing on, the client's trace context is continued by the gateway's spans, and
            // the HTTP client sends the forwarded request's own: the client's would make two.
            if ServiceTracing.isEnabled && (name == "traceparent" || name == "tracestate") { continue }
            headers.add(name: field.name.rawName, value: field.value)
        }
        headers.add(name: "X-Request-Id", value: requestId)
        if let address = call.clientAddress { headers.add(name: "X-Forwarded-For", value: address) }
        return headers
    }
}
