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

/// The pages of customers and everyone: the catalogue, a book, ordering, a customer's rentals and
/// alerts.
extension WebApp {
    func booksPage(
        _ request: Request, _ context: Context, form: BooksModel.RegisterForm = .init(), problem: PageFailure? = nil,
        session known: WebSession? = nil
    ) async throws -> Response {
        var session = known
        if session == nil { session = await self.session(request) }
        // As a form sends it (`+` for a space), which Hummingbird's query parameters do not decode.
        let parameters = FormFields(request.uri.query ?? "")
        let search = parameters.text("q")
        var query: [String] = ["limit=50"]
        if let search { query.append("q=\(Self.queryEscaped(search))") }
        if let cursor = parameters.text("cursor") { query.append("cursor=\(Self.queryEscaped(cursor))") }
        let answer = await call(.get, "/books", query: query.joined(separator: "&"), session: session, request, context)
        let books: [APIBook]
        do {
            books = try Self.decode([APIBook].self, answer)
        } catch let failure as PageFailure {
            guard let session else {
                return try await render(Page(title: failure.title, problem: failure.problem, status: failure.status), session: nil, request)
            }
            return try await failed(failure, session: session, request)
        }
        let canOrder = session?.caller.role == .customer
        let next = Self.nextCursor(answer).map { cursor in
            "/app/books?"
                + ((search.map { ["q=\(Self.queryEscaped($0))"] } ?? []) + ["cursor=\(Self.queryEscaped(cursor))"]).joined(separator: "&")
        }
        let model = BooksModel(
            query: search, stale: answer.headers[PublicAPI.staleHeader] != nil,
            books: books.map {
                .init(
                    id: $0.id, title: $0.title, author: $0.author, copies: $0.copies, available: $0.available,
                    orderable: canOrder && $0.available > 0)
            }, hasBooks: !books.isEmpty, nextHref: next, canRegister: session?.caller.role == .admin, form: form,
            idempotencyKey: UUIDv7.string())
        let title = search.map { "Books matching “\($0)”" } ?? "Books"
        return try await render(
            Page(
                title: title, template: "books", model: model, notice: Self.notice(request), problem: problem?.problem,
                status: problem?.status ?? .ok, headers: problem?.retryHeaders ?? [:]), session: session, request)
    }

    func registerBook(_ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws -> Response {
        struct Body: Encodable {
            var title: String?
            var author: String?
            var copies: Int?
        }
        let form = BooksModel.RegisterForm(title: fields["title"], author: fields["author"], copies: fields["copies"])
        let copies = fields.text("copies").flatMap(Int.init)
        guard fields.text("copies") == nil || copies != nil else {
            return try await booksPage(
                request, context, form: form, problem: PageFailure(status: .badRequest, message: "'copies' must be a whole number"),
                session: session)
        }
        let answer = await call(
            .post, "/books", body: try JSONEncoder().encode(Body(title: fields["title"], author: fields["author"], copies: copies)),
            idempotencyKey: fields.text("idempotencyKey"), session: session, request, context)
        guard answer.status.kind == .successful else {
            return try await booksPage(request, context, form: form, problem: PageFailure(answer), session: session)
        }
        return Self.redirect(to: "/app/books?done=registered")
    }

    func bookPage(
        _ id: String, _ session: WebSession, _ request: Request, _ context: Context, address: String? = nil, problem: PageFailure? = nil
    ) async throws -> Response {
        let book = try Self.decode(APIBook.self, await call(.get, "/books/\(id)", session: session, request, context))
        return try await render(
            Page(
                title: book.title, template: "book", model: BookModel(book: book, address: address, idempotencyKey: UUIDv7.string()),
                problem: problem?.problem, status: problem?.status ?? .ok, headers: problem?.retryHeaders ?? [:]), session: session, request
        )
    }

    func order(book id: String, _ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws
        -> Response
    {
        struct Body: Encodable {
            var bookId: String
            var address: String?
        }
        let answer = await call(
            .post, "/rentals", body: try JSONEncoder().encode(Body(bookId: id, address: fields["address"])),
            idempotencyKey: fields.text("idempotencyKey"),
            session: session, request, context)
        guard answer.status.kind == .successful else {
            // The form again, with what was typed and why it was refused.
            return try await bookPage(id, session, request, context, address: fields["address"], problem: PageFailure(answer))
        }
        return Self.redirect(to: "/app/rentals?done=ordered")
    }

    func rentalsPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
        -> Response
    {
        guard session.caller.role == .customer else {
            throw PageFailure(status: .forbidden, message: "My rentals is a customer's page: sign in as a customer.")
        }
        let liveSince = live?.position  // before the views: see LiveChanges
        let answer = await call(
            .get, "/customers/\(Self.pathEscaped(session.caller.subject))/rentals", query: "limit=100", session: session, request, context)
        let views = try Self.decode([APIRentalView].self, answer)
        let rentals = views.map { RentalsModel.rental($0, actionKey: UUIDv7.string()) }
        let model = RentalsModel(rentals: rentals, hasRentals: !rentals.isEmpty, fallback: views.contains { $0.fallback == true })
        return try await render(
            Page(
                title: "My rentals", template: "rentals", model: model, notice: Self.notice(request), problem: problem?.problem,
                liveSince: liveSince, status: problem?.status ?? .ok, headers: problem?.retryHeaders ?? [:]), session: session, request)
    }

    func rentalAction(
        _ action: String, rental id: String, _ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context
    ) async throws -> Response {
        let answer = await call(
            .post, "/rentals/\(id)/\(action)", idempotencyKey: fields.text("idempotencyKey"), session: session, request, context)
        guard answer.status.kind == .successful else {
            // The refusal, with Rental's reason, above the rentals as they now stand.
            return try await rentalsPage(session, request, context, problem: PageFailure(answer))
        }
        return Self.redirect(to: "/app/rentals?done=\(action == "cancel" ? "cancel-requested" : "returned")")
    }

    func alertsPage(_ session: WebSession, _ request: Request, _ context: Context) async throws -> Response {
        var query = ["limit=50"]
        if let cursor = request.uri.queryParameters.get("cursor") { query.append("cursor=\(Self.queryEscaped(cursor))") }
        let answer = await call(.get, "/alerts", query: query.joined(separator: "&"), session: session, request, context)
        let alerts = try Self.decode([APIAlert].self, answer)
        let model = AlertsModel(
            alerts: alerts.map {
                .init(
                    kind: $0.kind, customerId: $0.customerId, message: $0.message, createdAt: $0.createdAt,
                    createdAtText: readableTime($0.createdAt))
            }, hasAlerts: !alerts.isEmpty,
            nextHref: Self.nextCursor(answer).map { "/app/alerts?cursor=\(Self.queryEscaped($0))" })
        let title = session.caller.role == .admin ? "Alert log" : "My alerts"
        return try await render(Page(title: title, template: "alerts", model: model), session: session, request)
    }
}
