import Bus
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import Primitives
import Redis
import ServiceKit
import ServiceLifecycle

/// What every page answer is made of: the layout around a template, redirects, the static files,
/// and the small helpers pages share.
extension WebApp {
    struct Page {
        var title: String
        var template: String?
        var model: (any PageModel)?
        var notice: String?
        var problem: ProblemModel?
        /// The live feed's position before the page's data was read; nil for a page that is not live.
        var liveSince: String?
        var refreshSeconds: String?
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [:]
    }

    func render(_ page: Page, session: WebSession?, _ request: Request) async throws -> Response {
        let content = page.template.flatMap { template in page.model.map { templates.render($0, template) } } ?? ""
        let signedIn = session != nil
        let layout = LayoutModel(
            title: page.title, signedIn: signedIn, subject: session?.caller.subject ?? "", role: session?.caller.role.rawValue ?? "",
            navigation: session.map { LayoutModel.navigation(for: $0.caller.role, current: request.uri.path) } ?? [],
            notice: page.notice, problem: page.problem, live: page.liveSince != nil, liveSince: page.liveSince ?? "",
            refreshSeconds: page.refreshSeconds, content: content)
        var headers = page.headers
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] =
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(
            status: page.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: templates.render(layout, "layout"))))
    }

    static func redirect(to location: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }

    static func file(_ buffer: ByteBuffer, type: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "public, max-age=300", HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
            body: ResponseBody(byteBuffer: buffer))
    }

    /// A fixed message for `?done=` after a form succeeded (never text from the address).
    static func notice(_ request: Request) -> String? {
        let messages = [
            "ordered": "Ordered: the delivery is being scheduled, and it is free.",
            "cancel-requested": "Cancellation requested.", "returned": "Returned: thank you.",
            "registered": "The book is registered; customers get a promotion alert.", "started": "Delivery started.",
            "completed": "Delivery completed.",
        ]
        return request.uri.queryParameters.get("done").flatMap { messages[$0] }
    }

    /// The `{id}` of the path: a UUID (``RequestContext/uuidParameter(_:)``, as the services read
    /// theirs), else the page does not exist.
    static func id(_ context: Context) throws -> String {
        do {
            return try context.uuidParameter("id")
        } catch {
            throw PageFailure(status: .notFound, message: "There is no such page.")
        }
    }

    static func queryEscaped(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .queryValueAllowed) ?? "" }

    static func pathEscaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? ""
    }
}
