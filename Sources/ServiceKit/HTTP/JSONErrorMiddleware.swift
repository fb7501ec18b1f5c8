import Bus
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into a JSON ``APIError``: domain errors by their own mapping, Hummingbird's
/// errors (unknown route, bad body) by their status, a database or Redis that cannot answer now into
/// a quick 503 with `Retry-After`, and anything unexpected into a logged 500.
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as any APIErrorConvertible {
            throw error.apiError
        } catch let error as HTTPError {
            throw APIError(error.status, error.body ?? error.status.reasonPhrase.lowercased())
        } catch let error as any HTTPResponseError {
            throw APIError(error.status, error.status.reasonPhrase.lowercased())
        } catch  where Failure.isInfrastructure(error) && !(error is CancellationError) {
            context.logger.warning(
                "answering 503: the infrastructure failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(
                .serviceUnavailable, "the service is busy or cannot reach its storage just now: try again in a moment",
                headers: [.retryAfter: "1"])
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, "internal error")
        }
    }
}
