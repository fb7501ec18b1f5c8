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

/// Who is signed in: the cookie's token, the sign-in page and form, and the guards every page
/// and form goes through.
extension WebApp {
    /// The signed-in person, or nil (no cookie, or a token that no longer verifies). With
    /// `--no-auth` everyone is the same admin, without signing in.
    func session(_ request: Request) async -> WebSession? {
        guard case .tokens = api.authentication else { return WebSession(token: "", caller: .noAuthAdmin) }
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

    func signInPage(_ request: Request, problem: ProblemModel? = nil) async throws -> Response {
        let model = SignInModel(
            demo: demo != nil, demoMinutes: String(Int(DemoIdentities.lifetime / .seconds(60))),
            identities: DemoIdentities.identities.map { SignInModel.Identity(subject: $0.subject, role: $0.role.rawValue) })
        let notice = request.uri.queryParameters.get("ended") != nil ? "Your session has ended: please sign in again." : nil
        return try await render(
            Page(
                title: "Sign in", template: "signin", model: model, notice: notice, problem: problem,
                status: problem == nil ? .ok : .unauthorized), session: nil, request)
    }

    func signIn(_ fields: FormFields, _ request: Request) async throws -> Response {
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
    func signedIn(_ request: Request, _ context: Context, _ body: (WebSession) async throws -> Response) async throws -> Response {
        guard let session = await session(request) else { return Self.redirect(to: "/app/sign-in") }
        do {
            return try await body(session)
        } catch let failure as PageFailure {
            return try await failed(failure, session: session, request)
        }
    }

    /// A form post from the gateway's own pages (403 for others), with its fields read.
    func form(_ request: Request, _ context: Context, _ body: (FormFields) async throws -> Response) async throws -> Response {
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

    func signedInForm(_ request: Request, _ context: Context, _ body: (WebSession, FormFields) async throws -> Response)
        async throws -> Response
    {
        try await form(request, context) { fields in
            try await signedIn(request, context) { session in try await body(session, fields) }
        }
    }

    /// The page for a failed API call: the sign-in page once the token is refused, else the
    /// problem in the layout, with the API's status (and `Retry-After`).
    func failed(_ failure: PageFailure, session: WebSession, _ request: Request) async throws -> Response {
        if failure.status == .unauthorized {
            return Self.redirect(
                to: "/app/sign-in?ended=1", headers: [.setCookie: WebSession.clearingCookie(secure: WebSession.isSecure(request))])
        }
        var headers: HTTPFields = [:]
        if let retryAfter = failure.retryAfter { headers[.retryAfter] = retryAfter }
        return try await render(
            Page(title: failure.title, problem: failure.problem, status: failure.status, headers: headers), session: session, request)
    }
}
