import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Identity

/// `Idempotency-Key` for the requests that create or change state: a client that got no answer
/// (a timeout, a dropped connection) sends the request again with the same key and gets the first
/// answer back (same status, same body, header `Idempotent-Replayed: true`) without a second effect.
/// The same key with another request (method, path or body) is a 422.
///
/// The key's record is written in the transaction of the change itself, so a request either took
/// effect and has its record, or neither: two tries running at once are serialized by SQLite's write
/// lock (or run one after the other in one group commit) and the second one finds the first's
/// record. Only answers that changed something are kept (2xx); a refused request (4xx) changed
/// nothing and is simply evaluated again. Keys are kept 24 h (``Housekeeping``), per caller
/// (`scope`): one caller's key never answers another's request.
public struct IdempotentWrites: Sendable {
    public static let header = HTTPField.Name("Idempotency-Key")!
    public static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!
    public let writes: GroupCommit

    public init(writes: GroupCommit) {
        self.writes = writes
    }

    /// Runs `change` in a write transaction (shared with concurrent writes, ``GroupCommit``) and
    /// answers its output as JSON with `status`; with an `Idempotency-Key`, answers a repeated
    /// request from the key's record instead.
    public func respond<Output: Encodable & Sendable>(
        to request: Request, by caller: Caller, body: ByteBuffer? = nil, status: HTTPResponse.Status = .ok,
        _ change: @escaping @Sendable (Database) throws -> Output
    ) async throws -> Response {
        guard let key = try Self.key(of: request) else {
            let output = try await writes.write { db in try change(db) }
            return Self.response(status: status, body: try JSONEncoder().encode(output))
        }
        let scope = "\(caller.role.rawValue):\(caller.subject)"
        var fingerprint = Data("\(request.method.rawValue) \(request.uri.path)\n".utf8)
        if let body { fingerprint.append(contentsOf: body.readableBytesView) }
        let answer = try await writes.write { [fingerprint, scope] db -> (status: Int, body: Data, replayed: Bool) in
            // Both statements compiled once per connection: they run for every keyed write.
            if let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT request, status, response FROM idempotency_keys WHERE scope = ? AND key = ?"),
                arguments: [scope, key])
            {
                guard row["request"] as Data == fingerprint else {
                    throw APIError(
                        .unprocessableContent,
                        "Idempotency-Key '\(key)' was already used with a different request: use a new key for a new request")
                }
                return (row["status"], row["response"], true)
            }
            let output = try JSONEncoder().encode(try change(db))
            try db.cachedStatement(
                sql: "INSERT INTO idempotency_keys(scope, key, request, status, response, createdAt) VALUES (?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [scope, key, fingerprint, status.code, output, Int64(Date().timeIntervalSince1970 * 1000)])
            return (status.code, output, false)
        }
        var response = Self.response(status: HTTPResponse.Status(code: answer.status), body: answer.body)
        if answer.replayed { response.headers[Self.replayedHeader] = "true" }
        return response
    }

    /// The request's key: 1 to 255 visible ASCII characters; a 400 otherwise; nil without the header.
    static func key(of request: Request) throws -> String? {
        guard let key = request.headers[header] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    private static func response(status: HTTPResponse.Status, body: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The table, migrated into every service database by ``ServiceDatabase/migrator()``.
    static func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("idempotency-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE idempotency_keys (
                        scope TEXT NOT NULL,
                        key TEXT NOT NULL,
                        request BLOB NOT NULL,
                        status INTEGER NOT NULL,
                        response BLOB NOT NULL,
                        createdAt INTEGER NOT NULL,
                        PRIMARY KEY (scope, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_keys_created ON idempotency_keys(createdAt);
                    """)
        }
    }

    /// Forgets keys older than `cutoff` (ms since 1970).
    static func prune(olderThan cutoff: Int64, in db: Database) throws {
        try db.execute(sql: "DELETE FROM idempotency_keys WHERE createdAt < ?", arguments: [cutoff])
    }
}
