import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// `bookdelivery ctl`: talks to a running `up` through its control socket (``ControlServer``).
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Control a running `bookdelivery up`: status, stop, start, restart, scale, redeploy.",
        discussion: """
            Talks to `up` through the socket up.sock in its --data folder (mode 0600: only the user who runs it). \
            The parts are rental, delivery, lookup, notifier, gateway and redis.
            """,
        subcommands: [Status.self, Stop.self, Start.self, Restart.self, Scale.self, Redeploy.self])

    struct Target: ParsableArguments {
        @Option(help: "The data folder of the running `up` (where its up.sock is).") var data = "./.data"

        /// Sends `method path` to the socket; returns the body, or throws the answer's error.
        func call(post: Bool, _ path: String) async throws -> Data {
            let socket = ControlServer.socketPath(data: data)
            guard FileManager.default.fileExists(atPath: socket), let url = URL(httpURLWithSocketPath: socket, uri: path) else {
                throw ValidationError("no `bookdelivery up` runs with --data \(data) (there is no \(socket))")
            }
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = post ? .POST : .GET
            let response: HTTPClientResponse
            do {
                // A redeploy replaces every instance one by one: minutes, not seconds.
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
            } catch {
                throw ValidationError("cannot reach `up` through \(socket): \(error) (is it still running?)")
            }
            let body = Data((try await response.body.collect(upTo: 1 << 22)).readableBytesView)
            guard response.status == .ok else {
                struct Failure: Decodable { var error: String }
                throw CtlError(description: (try? JSONDecoder().decode(Failure.self, from: body))?.error ?? "\(response.status)")
            }
            return body
        }

        /// Sends a verb and prints `up`'s sentence.
        func run(_ path: String) async throws {
            struct Message: Decodable { var message: String }
            print(try JSONDecoder().decode(Message.self, from: try await call(post: true, path)).message)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every instance `up` runs: a table, or JSON with --json.")
        @OptionGroup var target: Target
        @Flag(help: "A JSON array, an object per instance: name, instance, pid, port, state, restarts, uptimeSeconds.") var json = false

        func run() async throws {
            let body = try await target.call(post: false, "/status")
            if json {
                print(String(decoding: body, as: UTF8.self))
                return
            }
            let rows = try JSONDecoder().decode([InstanceStatus].self, from: body)
            print(Self.table(rows))
        }

        static func table(_ rows: [InstanceStatus]) -> String {
            let header = ["NAME", "INSTANCE", "PID", "PORT", "STATE", "RESTARTS", "UPTIME"]
            let lines = rows.map { row in
                [
                    row.name, String(row.instance), row.pid.map(String.init) ?? "-", String(row.port), row.state.rawValue,
                    String(row.restarts), row.uptimeSeconds.map { "\($0)s" } ?? "-",
                ]
            }
            let widths = header.indices.map { column in ([header] + lines).map { $0[column].count }.max() ?? 0 }
            return ([header] + lines).map { line in
                zip(line, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            }.joined(separator: "\n")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a part; it stays stopped (not restarted) until `ctl start`.")
        @OptionGroup var target: Target
        @Argument(help: "rental, delivery, lookup, notifier, gateway or redis.") var name: String
        func run() async throws { try await target.run("/stop/\(name)") }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a stopped part again.")
        @OptionGroup var target: Target
        @Argument(help: "rental, delivery, lookup, notifier, gateway or redis.") var name: String
        func run() async throws { try await target.run("/start/\(name)") }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop and start a part's instances.")
        @OptionGroup var target: Target
        @Argument(help: "rental, delivery, lookup, notifier, gateway or redis.") var name: String
        func run() async throws { try await target.run("/restart/\(name)") }
    }

    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run N instances of a service (own ports and consumer names, same database); the gateway's pool follows.")
        @OptionGroup var target: Target
        @Argument(help: "NAME=N, e.g. delivery=3.") var assignment: String

        func run() async throws {
            let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let count = Int(parts[1]) else { throw ValidationError("scale takes NAME=N, e.g. delivery=3") }
            try await target.run("/scale/\(parts[0])/\(count)")
        }
    }

    struct Redeploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace services' instances one by one with no failed request: every service when none is named.")
        @OptionGroup var target: Target
        @Argument(help: "Services to redeploy.") var names: [String] = []

        func run() async throws {
            try await target.run(names.isEmpty ? "/redeploy" : "/redeploy?names=\(names.joined(separator: ","))")
        }
    }
}

struct CtlError: Error, CustomStringConvertible {
    let description: String
}
