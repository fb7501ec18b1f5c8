import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import XCTest

@testable import Gateway

/// The web app's and the OpenAPI document's pure parts. The pages themselves are tested in a real
/// browser (ops/app/browser_test.py) and the document against real answers (ops/app/api_test.py).
final class WebAppUnitTests: XCTestCase {
    /// The document and the route table describe the same API: every route is documented with its
    /// method, and every documented API operation is routed.
    func testTheOpenAPIDocumentDescribesExactlyTheRoutedAPI() throws {
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json)) as? [String: Any])
        XCTAssertEqual(document["openapi"] as? String, "3.1.0")
        let paths = try XCTUnwrap(document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths where !PublicAPI.ownPaths.contains(path) {
            // `/books/{bookId}` → `books/{}`, the table's notation.
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") ? "{}" : String($0) }
            for method in operations.keys { documented.insert("\(method.uppercased()) /\(segments.joined(separator: "/"))") }
        }
        let routed = Set(RouteTable.standard.routes.map(\.name))
        XCTAssertEqual(documented.subtracting(routed), [], "documented but not routed")
        XCTAssertEqual(routed.subtracting(documented), [], "routed but not documented")
        for own in ["/openapi.json", "/live", "/ready", "/health"] { XCTAssertNotNil(paths[own], "\(own) is documented") }
    }

    func testFormFieldsDecodeAsBrowsersSendThem() {
        let fields = FormFields("address=%EC%84%9C%EC%9A%B8+%EC%A2%85%EB%A1%9C%EA%B5%AC+1&empty=&plus=a%2Bb&twice=1&twice=2&bare")
        XCTAssertEqual(fields["address"], "서울 종로구 1", "percent-encoded UTF-8, + for a space")
        XCTAssertEqual(fields["plus"], "a+b", "an encoded + stays a +")
        XCTAssertEqual(fields["empty"], "")
        XCTAssertNil(fields.text("empty"), "blank counts as absent")
        XCTAssertEqual(fields["twice"], "1", "the first of repeated fields")
        XCTAssertEqual(fields["bare"], "")
        XCTAssertNil(fields["missing"])
    }

    func testTheSessionCookieIsHttpOnlyStrictAndFoundAmongOthers() {
        let cookie = WebSession.cookie("abc.def.ghi", secure: false) ?? ""
        XCTAssertTrue(cookie.hasPrefix("bookdelivery_session=abc.def.ghi; "))
        for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Strict"] { XCTAssertTrue(cookie.contains(attribute), attribute) }
        XCTAssertFalse(cookie.contains("Secure"))
        XCTAssertTrue(WebSession.cookie("t", secure: true)?.contains("; Secure") ?? false, "Secure behind HTTPS")
        XCTAssertNil(WebSession.cookie("x; Domain=example.org", secure: false), "a value that would add attributes")
        XCTAssertTrue(WebSession.clearingCookie(secure: false).contains("Max-Age=0"))

        var headers = HTTPFields()
        headers.append(HTTPField(name: .cookie, value: "theme=dark; bookdelivery_session=tok.en.x ; other=1"))
        XCTAssertEqual(WebSession.token(in: headers), "tok.en.x")
        XCTAssertNil(WebSession.token(in: [.cookie: "bookdelivery_session=; x=1"]), "an emptied cookie is no session")
        XCTAssertNil(WebSession.token(in: [.cookie: "not_bookdelivery_session=t"]))
    }

    func testFormsAreTakenOnlyFromTheGatewaysOwnPages() {
        func request(_ fields: HTTPFields) -> Request {
            Request(
                head: HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1:8080", path: "/app/sign-out", headerFields: fields),
                body: .init(buffer: ByteBuffer()))
        }
        XCTAssertTrue(WebSession.isSameOrigin(request([.origin: "http://127.0.0.1:8080"])))
        XCTAssertFalse(WebSession.isSameOrigin(request([.origin: "http://evil.example"])), "another site's form")
        XCTAssertFalse(WebSession.isSameOrigin(request([WebSession.secFetchSite: "cross-site"])))
        XCTAssertTrue(WebSession.isSameOrigin(request([WebSession.secFetchSite: "same-origin"])))
    }

    /// The page offers what Rental would accept, and says why not.
    func testARentalCanBeCanceledUntilItsDeliveryStartsAndReturnedOnceDelivered() {
        func rental(_ status: String, _ delivery: String) -> RentalsModel.Rental {
            RentalsModel.rental(
                APIRentalView(
                    rentalId: "r", bookId: "b", bookTitle: "책", status: RentalStatus(rawValue: status)!,
                    deliveryStatus: ViewDeliveryStatus(rawValue: delivery)!,
                    updatedAt: "2026-11-22T00:37:01.650Z"),
                actionKey: "k")
        }
        XCTAssertTrue(rental("ordered", "pending").canCancel)
        XCTAssertTrue(rental("ordered", "ready").canCancel)
        let started = rental("ordered", "started")
        XCTAssertFalse(started.canCancel, "Lookup heard of the start before Rental did")
        XCTAssertEqual(started.cancelClosed, "The delivery has started, so this rental can no longer be canceled.")
        XCTAssertFalse(rental("delivering", "started").canCancel)
        XCTAssertFalse(rental("cancel_requested", "ready").canCancel)
        XCTAssertNotNil(rental("cancel_requested", "ready").cancelClosed)
        XCTAssertTrue(rental("delivered", "delivered").canReturn)
        XCTAssertFalse(rental("delivering", "started").canReturn)
        XCTAssertEqual(rental("ordered", "ready").updatedAtText, "2026-11-22 00:37 UTC")
        XCTAssertEqual(rental("ordered", "unknown").deliveryText, "Unknown just now")
    }

    func testBusyAnswersBecomeATryAgainMessage() {
        let busy = PageFailure(
            PublicAPI.Answer(
                status: .tooManyRequests, headers: [.retryAfter: "20"],
                body: ByteBuffer(string: #"{"error":"too many requests: slow down and try again in 20 s"}"#)))
        XCTAssertEqual(busy.problem.busySeconds, "20")
        XCTAssertEqual(busy.problem.message, "Too many requests: slow down and try again in 20 s.")
        XCTAssertEqual(busy.title, "Busy")
        let refused = PageFailure(PublicAPI.Answer(status: .conflict, headers: [:], body: ByteBuffer(string: "not json")))
        XCTAssertNil(refused.problem.busySeconds)
        XCTAssertEqual(refused.problem.message, "Conflict.", "a body that is not ours: the status's reason")
    }

    func testEveryTemplateParsesAndEscapesWhatItShows() throws {
        let templates = try WebTemplates()
        let html = templates.render(
            BookModel(
                book: APIBook(id: "id", title: "<script>alert(1)</script>", author: "a", copies: 1, available: 1), address: "\"><b>",
                idempotencyKey: "k"), "book")
        XCTAssertFalse(html.contains("<script>alert(1)"), "titles are escaped")
        XCTAssertTrue(html.contains("value=\"&quot;&gt;&lt;b&gt;\""), "what was typed comes back escaped")
    }
}
