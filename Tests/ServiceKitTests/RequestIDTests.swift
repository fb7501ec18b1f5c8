import Foundation
import NIOCore
import XCTest

@testable import ServiceKit

/// A request id made here is the prefix and the counter as 12 hex digits each, as `String(radix:)`
/// with zero padding wrote them.
final class RequestIDTests: XCTestCase {
    func testANewIdIsThePrefixAndTheCounterIn12HexDigitsEach() {
        XCTAssertEqual(RequestID.hex(0x3f9a_1c2b_7d4e, 0x1a), "3f9a1c2b7d4e-00000000001a")
        XCTAssertEqual(RequestID.hex(0, 0xffff_ffff_ffff), "000000000000-ffffffffffff")
        let (first, second) = (RequestID.make(), RequestID.make())
        XCTAssertEqual(first.prefix(13), second.prefix(13), "one prefix per process")
        let counters = [first, second].map { UInt64($0.dropFirst(13), radix: 16) }
        XCTAssertEqual(counters[1], counters[0].map { $0 + 1 })
        XCTAssertEqual(RequestID.accepted(first), first, "an id the services take")
    }
}

/// An error's body, written without `JSONEncoder`, is the JSON any decoder reads back as the message.
final class APIErrorBodyTests: XCTestCase {
    func testItsAnswersSayJSONAndKeepTheErrorsOwnHeaders() {
        let error = APIError(.serviceUnavailable, "busy", headers: [.retryAfter: "1"])
        XCTAssertEqual(error.responseHeaders[.contentType], "application/json")
        XCTAssertEqual(error.responseHeaders[.retryAfter], "1")
    }

    func testTheBodyIsJSONThatDecodesToTheMessageWhateverItHolds() throws {
        struct Body: Decodable, Equatable { var error: String }
        let messages = [
            "rental is busy: please try again in a moment", "", #"a "quoted" \ path/with/slashes"#, "tab\tnew\nline\rreturn",
            "bell\u{07} nul\u{00} escape\u{1B} unit\u{1F} del\u{7F}", "naïve café — 本 📚",
        ]
        for message in messages {
            let body = APIError(.badRequest, message).body
            let text = String(buffer: body)
            XCTAssertEqual(try JSONDecoder().decode(Body.self, from: Data(text.utf8)), Body(error: message), text)
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)), "strict JSON: \(text)")
        }
        XCTAssertEqual(String(buffer: APIError(.badRequest, "x\u{01}").body), #"{"error":"x\u0001"}"#)
    }
}
