import Bus
import Foundation
import HTTPTypes
import Hummingbird
import Identity
import NIOCore
import Redis
import ServiceKit
import ServiceLifecycle

/// The web app at `/`: server-rendered pages for customers, couriers and admins. Every page reads
/// and writes through the public API (``PublicAPI``) with the signed-in person's token, so it obeys
/// the same rules, rate limits and fallbacks as any client; only the operator's page reads Redis
/// itself, as `bookdelivery streams` does.
struct WebApp: Sendable {
    let api: PublicAPI
    let templates: WebTemplates
    /// Lookup's changes, for the live pages; nil without Redis.
    let live: LiveChanges?
    /// For the operator's page; nil without Redis.
    let operations: RedisClient?
    let demo: DemoIdentities?
    /// Sign-in attempts per client address: 10 at once, then one a second.
    let signInLimiter = TokenBucketLimiter(rate: 1, burst: 10)

    typealias Context = GatewayRequestContext
    static let refreshSeconds = 2

    func addRoutes(to router: Router<Context>) {
        router.get("/") { request, context in
            guard let session = await session(request) else { return try await signInPage(request) }
            return Self.redirect(to: Self.home(of: session.caller.role))
        }
        router.get("/app/static/app.css") { _, _ in Self.file(StaticFiles.css, type: "text/css; charset=utf-8") }
        router.get("/app/static/app.js") { _, _ in Self.file(StaticFiles.script, type: "text/javascript; charset=utf-8") }
        router.get("/app/sign-in") { request, _ in try await signInPage(request) }
        router.post("/app/sign-in") { request, context in
            // Each attempt costs a signature check (or signs a demo token): limited per address.
            let decision = signInLimiter.take("address:\(context.remoteAddress?.ipAddress ?? "unknown")")
            guard decision.allowed else {
                return try await render(
                    Page(
                        title: "Busy",
                        problem: ProblemModel(
                            message: "Too many sign-in attempts from here.", busySeconds: String(decision.resetSeconds)),
                        status: .tooManyRequests, headers: [.retryAfter: String(decision.resetSeconds)]), session: nil, request)
            }
            return try await form(request, context) { fields in try await signIn(fields, request) }
        }
        router.post("/app/sign-out") { request, _ in
            Self.redirect(to: "/", headers: [.setCookie: WebSession.clearingCookie(secure: WebSession.isSecure(request))])
        }

        router.get("/app/books") { request, context in try await booksPage(request, context) }
        router.post("/app/books") { request, context in
            try await signedInForm(request, context) { session, fields in try await registerBook(fields, session, request, context) }
        }
        router.get("/app/books/{id}") { request, context in
            try await signedIn(request, context) { session in try await bookPage(try Self.id(context), session, request, context) }
        }
        router.post("/app/books/{id}/order") { request, context in
            try await signedInForm(request, context) { session, fields in
                try await order(book: try Self.id(context), fields, session, request, context)
            }
        }

        router.get("/app/rentals") { request, context in
            try await signedIn(request, context) { session in try await rentalsPage(session, request, context) }
        }
        for action in ["cancel", "return"] {
            router.post("/app/rentals/{id}/\(action)") { request, context in
                try await signedInForm(request, context) { session, fields in
                    try await rentalAction(action, rental: try Self.id(context), fields, session, request, context)
                }
            }
        }
        router.get("/app/alerts") { request, context in
            try await signedIn(request, context) { session in try await alertsPage(session, request, context) }
        }

        router.get("/app/deliveries") { request, context in
            try await signedIn(request, context) { session in try await deliveriesPage(session, request, context) }
        }
        for action in ["start", "complete"] {
            router.post("/app/deliveries/{id}/\(action)") { request, context in
                try await signedInForm(request, context) { session, fields in
                    try await deliveryAction(action, delivery: try Self.id(context), fields, session, request, context)
                }
            }
        }

        router.get("/app/operations") { request, context in
            try await signedIn(request, context) { session in try await operationsPage(session, request, context) }
        }
        router.post("/app/operations/redrive") { request, context in
            try await signedInForm(request, context) { session, fields in try await redrive(fields, session, request, context) }
        }
        router.get("/app/live") { request, _ in try await liveEvents(request) }
        router.get("/app/**") { request, context in
            try await render(
                Page(title: "Not found", problem: ProblemModel(message: "There is no such page."), status: .notFound), session: nil,
                request)
        }
    }

    // MARK: - Sessions

    /// The signed-in person, or nil (no cookie, or a token that no longer verifies). With
    /// `--no-auth` everyone is the same admin, without signing in.
    func session(_ request: Request) async -> WebSession? {
        guard case .tokens = api.authentication else { return WebSession(token: "", caller: .unauthenticated) }
        guard let token = WebSession.token(in: request.headers),
            let caller = try? await api.authentication.caller(authorization: "Bearer \(token)")
        else { return nil }
        return WebSession(token: token, caller: caller)
    }

    static func home(of role: Role) -> String {
        switch role {
        case .customer: "/app/rentals"
        case .courier: "/app/deliveries"
        case .admin: "/app/operations"
        }
    }

    private func signInPage(_ request: Request, problem: ProblemModel? = nil) async throws -> Response {
        let model = SignInModel(
            demo: demo != nil, demoMinutes: String(Int(DemoIdentities.lifetime / .seconds(60))),
            identities: DemoIdentities.identities.map { SignInModel.Identity(subject: $0.subject, role: $0.role.rawValue) })
        let notice = request.uri.queryParameters.get("ended") != nil ? "Your session has ended: please sign in again." : nil
        return try await render(
            Page(
                title: "Sign in", template: "signin", model: model, notice: notice, problem: problem,
                status: problem == nil ? .ok : .unauthorized), session: nil, request)
    }

    private func signIn(_ fields: FormFields, _ request: Request) async throws -> Response {
        let token: String
        if let subject = fields.text("identity") {
            guard let demo else {
                return try await signInPage(request, problem: ProblemModel(message: "This gateway has no demo sign-in."))
            }
            guard let minted = try await demo.token(for: subject) else {
                return try await signInPage(request, problem: ProblemModel(message: "There is no demo identity '\(subject)'."))
            }
            token = minted
        } else {
            guard let pasted = fields.text("token") else {
                return try await signInPage(request, problem: ProblemModel(message: "Paste a token to sign in."))
            }
            // A JWT is base64url and dots: nothing else reaches the cookie (even with --no-auth, where
            // no token is checked).
            guard pasted.utf8.count <= 4096,
                pasted.unicodeScalars.allSatisfy({
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0))
                })
            else {
                return try await signInPage(
                    request, problem: ProblemModel(message: "That is not a token: a token is letters, digits, '-', '_' and dots."))
            }
            token = pasted
        }
        let caller: Caller?
        do {
            caller = try await api.authentication.caller(authorization: "Bearer \(token)")
        } catch let error as APIError {
            // The token is not shown again: the form comes back empty.
            return try await signInPage(request, problem: ProblemModel(message: "That token was not accepted: \(error.message)."))
        }
        guard let cookie = WebSession.cookie(token, secure: WebSession.isSecure(request)) else {
            return try await signInPage(request, problem: ProblemModel(message: "That is not a token."))
        }
        return Self.redirect(to: Self.home(of: caller?.role ?? .admin), headers: [.setCookie: cookie])
    }

    /// Runs `body` for a signed-in person; sends anyone else to the sign-in page.
    private func signedIn(_ request: Request, _ context: Context, _ body: (WebSession) async throws -> Response) async throws -> Response {
        guard let session = await session(request) else { return Self.redirect(to: "/app/sign-in") }
        do {
            return try await body(session)
        } catch let failure as PageFailure {
            return try await failed(failure, session: session, request)
        }
    }

    /// A form post from the gateway's own pages (403 for others), with its fields read.
    private func form(_ request: Request, _ context: Context, _ body: (FormFields) async throws -> Response) async throws -> Response {
        guard WebSession.isSameOrigin(request) else {
            return try await render(
                Page(title: "Not allowed", problem: ProblemModel(message: "This form was sent from another site."), status: .forbidden),
                session: nil, request)
        }
        let fields: FormFields
        do {
            fields = try await FormFields.read(request)
        } catch {
            return try await render(
                Page(title: "Too large", problem: ProblemModel(message: "What was sent is too large."), status: .contentTooLarge),
                session: nil, request)
        }
        return try await body(fields)
    }

    private func signedInForm(_ request: Request, _ context: Context, _ body: (WebSession, FormFields) async throws -> Response)
        async throws -> Response
    {
        try await form(request, context) { fields in
            try await signedIn(request, context) { session in try await body(session, fields) }
        }
    }

    /// The page for a failed API call: the sign-in page once the token is refused, else the
    /// problem in the layout, with the API's status (and `Retry-After`).
    private func failed(_ failure: PageFailure, session: WebSession, _ request: Request) async throws -> Response {
        if failure.status == .unauthorized {
            return Self.redirect(
                to: "/app/sign-in?ended=1", headers: [.setCookie: WebSession.clearingCookie(secure: WebSession.isSecure(request))])
        }
        var headers: HTTPFields = [:]
        if let retryAfter = failure.retryAfter { headers[.retryAfter] = retryAfter }
        return try await render(
            Page(title: failure.title, problem: failure.problem, status: failure.status, headers: headers), session: session, request)
    }

    // MARK: - Customers' and everyone's pages

    private func booksPage(
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

    private func registerBook(_ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws -> Response
    {
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

    private func bookPage(
        _ id: String, _ session: WebSession, _ request: Request, _ context: Context, address: String? = nil, problem: PageFailure? = nil
    ) async throws -> Response {
        let book = try Self.decode(APIBook.self, await call(.get, "/books/\(id)", session: session, request, context))
        return try await render(
            Page(
                title: book.title, template: "book", model: BookModel(book: book, address: address, idempotencyKey: UUIDv7.string()),
                problem: problem?.problem, status: problem?.status ?? .ok, headers: problem?.retryHeaders ?? [:]), session: session, request
        )
    }

    private func order(book id: String, _ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws
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

    private func rentalsPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
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

    private func rentalAction(
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

    private func alertsPage(_ session: WebSession, _ request: Request, _ context: Context) async throws -> Response {
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

    // MARK: - Couriers' pages

    private func deliveriesPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
        -> Response
    {
        guard session.caller.role != .customer else {
            throw PageFailure(status: .forbidden, message: "Deliveries are for couriers: sign in as a courier.")
        }
        let liveSince = live?.position  // before the deliveries: see LiveChanges
        let deliveries = try Self.decode(
            [APIDelivery].self, await call(.get, "/deliveries", query: "status=ready,started&limit=200", session: session, request, context)
        )
        // Titles from the catalogue; a delivery whose book is not on its first page shows the id.
        let books =
            (try? Self.decode([APIBook].self, await call(.get, "/books", query: "limit=500", session: session, request, context))) ?? []
        let titles = Dictionary(books.map { ($0.id, $0.title) }) { first, _ in first }
        let items = deliveries.reversed().map {
            DeliveriesModel.Delivery(
                id: $0.id, bookTitle: titles[$0.bookId] ?? "Book \($0.bookId.prefix(8))", customerId: $0.customerId, address: $0.address,
                status: $0.status, canStart: $0.status == "ready", canComplete: $0.status == "started", actionKey: UUIDv7.string())
        }
        return try await render(
            Page(
                title: "Deliveries to do", template: "deliveries", model: DeliveriesModel(deliveries: items, hasDeliveries: !items.isEmpty),
                notice: Self.notice(request), problem: problem?.problem, liveSince: liveSince, status: problem?.status ?? .ok,
                headers: problem?.retryHeaders ?? [:]), session: session, request)
    }

    private func deliveryAction(
        _ action: String, delivery id: String, _ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context
    ) async throws -> Response {
        let answer = await call(
            .post, "/deliveries/\(id)/\(action)", idempotencyKey: fields.text("idempotencyKey"), session: session, request, context)
        guard answer.status.kind == .successful else {
            return try await deliveriesPage(session, request, context, problem: PageFailure(answer))
        }
        return Self.redirect(to: "/app/deliveries?done=\(action == "start" ? "started" : "completed")")
    }

    // MARK: - The operator's page

    private func operationsPage(_ session: WebSession, _ request: Request, _ context: Context, problem: PageFailure? = nil) async throws
        -> Response
    {
        guard session.caller.role == .admin else {
            throw PageFailure(status: .forbidden, message: "Operations are for admins: sign in as an admin.")
        }
        var model = OperationsModel(
            refreshSeconds: String(Self.refreshSeconds), readAt: Timestamp.string(from: Date()), readAtText: "", groupRows: [],
            capTrimmed: "unknown", setAside: "unknown", deadLetters: [],
            hasDeadLetters: false,
            pools: Upstream.allCases.compactMap { upstream in
                api.pools[upstream].map {
                    .init(
                        name: upstream.rawValue, breaker: $0.breaker.state.rawValue, ready: $0.readyCount, instances: $0.instances.count,
                        inFlight: $0.limiter.inFlight)
                }
            },
            rejections: GatewayMetrics.rejections.withLock { $0 }.sorted { ($0.key.reason, $0.key.pool) < ($1.key.reason, $1.key.pool) }
                .map { .init(reason: $0.key.reason, pool: $0.key.pool, count: $0.value) }, hasRejections: false)
        model.hasRejections = !model.rejections.isEmpty
        model.readAtText = String(model.readAt.dropFirst(11).prefix(8)) + " UTC"
        if let operations {
            do {
                let report = try await StreamsReport.read(client: operations)
                for stream in report.streams {
                    if stream.groups.isEmpty {
                        model.groupRows.append(
                            .init(stream: stream.name, length: stream.length, group: "(no groups)", consumers: "", pending: "", lag: ""))
                    }
                    for group in stream.groups {
                        model.groupRows.append(
                            .init(
                                stream: stream.name, length: stream.length, group: group.name, consumers: String(group.consumers),
                                pending: String(group.pending), lag: group.lag.map(String.init) ?? "?"))
                    }
                }
                let all = report.streams + report.deadLetters
                let capped = all.filter { $0.capTrimmed > 0 }.map { "\($0.name): \($0.capTrimmed)" }
                let setAside = all.filter { $0.setAside > 0 }.map { "\($0.name): \($0.setAside)" }
                model.capTrimmed = capped.isEmpty ? "none" : capped.joined(separator: ", ")
                model.setAside = setAside.isEmpty ? "none" : setAside.joined(separator: ", ")
                for stream in report.deadLetters where stream.length > 0 {
                    let entries = try await operations.range(of: stream.name, count: 10).map { entry in
                        let fields = entry.fields ?? [:]
                        return OperationsModel.DeadLetterStream.Entry(
                            id: entry.id, type: fields["type"] ?? "?", error: fields["dead.error"] ?? "?",
                            attempts: fields["dead.attempts"] ?? "?")
                    }
                    model.deadLetters.append(.init(name: stream.name, length: stream.length, entries: entries))
                }
            } catch {
                model.streamsProblem = "Redis cannot be read just now: \(error)"
            }
        } else {
            model.streamsProblem = "This gateway runs without --redis: streams and dead letters are not shown."
        }
        model.hasDeadLetters = !model.deadLetters.isEmpty
        var notice = Self.notice(request)
        if let count = request.uri.queryParameters.get("redriven").flatMap({ Int($0) }),
            let stream = request.uri.queryParameters.get("stream")
        {
            notice = "Re-drove \(count) entries from \(stream)."
        }
        return try await render(
            Page(
                title: "Operations", template: "operations", model: model, notice: notice, problem: problem?.problem,
                refreshSeconds: String(Self.refreshSeconds), status: problem?.status ?? .ok), session: session, request)
    }

    private func redrive(_ fields: FormFields, _ session: WebSession, _ request: Request, _ context: Context) async throws -> Response {
        guard session.caller.role == .admin else { throw PageFailure(status: .forbidden, message: "Only admins re-drive dead letters.") }
        guard let operations else {
            return try await operationsPage(
                session, request, context, problem: PageFailure(status: .serviceUnavailable, message: "This gateway runs without --redis."))
        }
        guard let stream = fields.text("stream"), DeadLetter.source(of: stream) != nil else {
            return try await operationsPage(
                session, request, context, problem: PageFailure(status: .badRequest, message: "That is not a dead-letter stream."))
        }
        do {
            let moved = try await DeadLetterRedrive.redrive(client: operations, deadLetterStream: stream)
            return Self.redirect(to: "/app/operations?redriven=\(moved)&stream=\(Self.queryEscaped(stream))")
        } catch {
            return try await operationsPage(
                session, request, context, problem: PageFailure(status: .serviceUnavailable, message: "The re-drive failed: \(error)"))
        }
    }

    // MARK: - Live changes

    /// `GET /app/live`: Server-Sent Events, one `change` per change of a view the person may see
    /// (a customer's own rentals; everything for couriers and admins), and a comment now and then
    /// that keeps the connection open. Ends when the gateway shuts down.
    private func liveEvents(_ request: Request) async throws -> Response {
        guard let session = await session(request) else { throw APIError.unauthorized("sign in first") }
        // The position the page was rendered at (see LiveChanges); bounded, it is only compared.
        let since = request.uri.queryParameters["since"].map(String.init).flatMap { $0.utf8.count <= 64 ? $0 : nil }
        guard let live, let subscription = live.subscribe(since: since) else {
            throw APIError(.serviceUnavailable, "live changes are not available on this gateway", headers: [.retryAfter: "5"])
        }
        let customer = session.caller.role == .customer ? session.caller.subject : nil
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { live.unsubscribe(subscription.id) }
                try await writer.write(ByteBuffer(string: "retry: 1000\n: live\n\n"))
                try await withGracefulShutdownHandler {
                    for await signal in subscription.signals {
                        switch signal {
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": still here\n\n"))
                        case .change(let change):
                            guard customer == nil || change.customerId == customer else { continue }
                            try await writer.write(ByteBuffer(string: "event: change\ndata: {\"rentalId\":\"\(change.rentalId)\"}\n\n"))
                        case .missed:
                            try await writer.write(ByteBuffer(string: "event: change\ndata: {}\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    live.unsubscribe(subscription.id)
                }
                try await writer.finish(nil)
            })
    }

    // MARK: - Calling the API

    func call(
        _ method: HTTPRequest.Method, _ path: String, query: String? = nil, body: Data? = nil,
        idempotencyKey: String? = nil, session: WebSession?, _ request: Request, _ context: Context
    ) async -> PublicAPI.Answer {
        var headers: HTTPFields = [.accept: "application/json"]
        if let session, case .tokens = api.authentication { headers[.authorization] = "Bearer \(session.token)" }
        if let requestId = request.headers[PublicAPI.requestIdHeader] { headers[PublicAPI.requestIdHeader] = requestId }
        var buffer = ByteBuffer()
        if let body {
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: body)
        } else if method == .post {
            headers[.contentType] = "application/json"
        }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return await api.exchange(
            // The browser's address: the rate limit's key for a call without a token, as for any client.
            .init(
                method: method, path: path, query: query, headers: headers, body: .buffer(buffer),
                clientAddress: context.remoteAddress?.ipAddress))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ answer: PublicAPI.Answer) throws -> T {
        guard answer.status.kind == .successful else { throw PageFailure(answer) }
        do {
            return try JSONDecoder().decode(type, from: Data(answer.body.readableBytesView))
        } catch {
            throw PageFailure(status: .badGateway, message: "An answer could not be read.")
        }
    }

    /// The `cursor` of the next page in a list's `Link` header.
    static func nextCursor(_ answer: PublicAPI.Answer) -> String? {
        guard let link = answer.headers[.link], let start = link.range(of: "cursor=") else { return nil }
        let rest = link[start.upperBound...]
        let value = rest.prefix { $0 != "&" && $0 != ">" }
        return String(value).removingPercentEncoding
    }

    // MARK: - Answers

    struct Page {
        var title: String
        var template: String?
        var model: Any = ()
        var notice: String?
        var problem: ProblemModel?
        /// The live feed's position before the page's data was read; nil for a page that is not live.
        var liveSince: String?
        var refreshSeconds: String?
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [:]
    }

    func render(_ page: Page, session: WebSession?, _ request: Request) async throws -> Response {
        let content = page.template.map { templates.render(page.model, $0) } ?? ""
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

/// An API call a page could not do without: shown on the page with the API's status and message.
struct PageFailure: Error {
    var status: HTTPResponse.Status
    var problem: ProblemModel
    var retryAfter: String?

    init(status: HTTPResponse.Status, message: String) {
        self.status = status
        self.problem = ProblemModel(message: message)
    }

    init(_ answer: PublicAPI.Answer) {
        status = answer.status
        retryAfter = answer.headers[.retryAfter]
        let busy = answer.status == .tooManyRequests || answer.status == .serviceUnavailable
        problem = ProblemModel(message: Self.sentence(answer.errorMessage), busySeconds: busy ? (retryAfter ?? "1") : nil)
    }

    var title: String {
        switch status {
        case .tooManyRequests, .serviceUnavailable: "Busy"
        case .notFound: "Not found"
        case .forbidden: "Not allowed"
        default: "Something went wrong"
        }
    }

    var retryHeaders: HTTPFields {
        guard let retryAfter else { return [:] }
        return [.retryAfter: retryAfter]
    }

    /// The API's message as a sentence.
    static func sentence(_ message: String) -> String {
        guard let first = message.first else { return message }
        return first.uppercased() + message.dropFirst() + (message.hasSuffix(".") ? "" : ".")
    }
}
