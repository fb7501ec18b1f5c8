import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceKit

#if canImport(Glibc)
    import Glibc
#endif

/// `up`'s control socket, `<data>/up.sock` (mode 0600: only the user who runs `up`): HTTP over a
/// Unix socket, which `bookdelivery ctl` speaks.
///
/// | request | does |
/// |---|---|
/// | `GET /status` | every instance, as ``InstanceStatus`` |
/// | `POST /stop/{name}`, `/start/{name}`, `/restart/{name}` | that part's instances |
/// | `POST /scale/{name}/{count}` | a service's instance count |
/// | `POST /redeploy?names=a,b` | a rolling replacement (all services when none is named) |
///
/// Why a socket file and not a TCP port: the file's mode is the access control, with no password
/// to hand out, and it lives beside the data it controls.
enum ControlServer {
    static func socketPath(data: String) -> String {
        URL(fileURLWithPath: data).standardizedFileURL.appendingPathComponent("up.sock").path
    }

    static func application(supervisor: Supervisor, socket: String, logger: Logger) -> some ApplicationProtocol {
        unlink(socket)  // one left by an `up` that was killed; ports were checked free before
        let router = Router()
        router.middlewares.add(JSONErrorMiddleware())
        router.get("/status") { _, _ in try json(await supervisor.status()) }
        for verb in ["stop", "start", "restart"] {
            router.post("/\(verb)/{name}") { _, context in
                let name = try context.parameters.require("name")
                return try await answer {
                    switch verb {
                    case "stop": try await supervisor.stop(name)
                    case "start": try await supervisor.start(name)
                    default: try await supervisor.restart(name)
                    }
                }
            }
        }
        router.post("/scale/{name}/{count}") { _, context in
            let name = try context.parameters.require("name")
            guard let count = Int(try context.parameters.require("count")) else { throw APIError.badRequest("the count is a number") }
            return try await answer { try await supervisor.scale(name, to: count) }
        }
        router.post("/redeploy") { request, _ in
            let names = request.uri.queryParameters.get("names").map { $0.split(separator: ",").map(String.init) } ?? []
            return try await answer { try await supervisor.redeploy(names) }
        }
        return Application(
            router: router, configuration: .init(address: .unixDomainSocket(path: socket), serverName: "bookdelivery-up"),
            onServerRunning: { _ in chmod(socket, 0o600) }, logger: logger)
    }

    private static func answer(_ body: () async throws -> String) async throws -> Response {
        do {
            return try json(["message": try await body()])
        } catch let error as ControlError {
            throw APIError(HTTPResponse.Status(code: error.status.rawValue), error.description)
        } catch let error as UpError {
            throw APIError(.serviceUnavailable, error.description)
        }
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
