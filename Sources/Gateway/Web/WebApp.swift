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
}
