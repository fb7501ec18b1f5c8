import Foundation
import Logging

/// `--instances-file FILE`: the pools' instances as JSON (`{"rental": ["http://127.0.0.1:8081"], …}`),
/// read at start and again whenever the file changes, so that instances can be added and removed
/// while the gateway runs (`bookdelivery up` rewrites it, by an atomic rename, when it scales a
/// service or replaces its instances). A pool the file leaves out keeps its instances; a file that
/// cannot be read or holds a bad URL is logged and ignored, the pools as they were.
public struct InstancesFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The pools the file names.
    public func read() throws -> [Upstream: [URL]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let lists = try JSONDecoder().decode([String: [String]].self, from: data)
        var pools: [Upstream: [URL]] = [:]
        for (name, urls) in lists {
            guard let upstream = Upstream(rawValue: name) else { throw InstancesFileError("'\(name)' is not a pool") }
            pools[upstream] = try urls.map { try Self.instanceURL($0, option: name) }
        }
        return pools
    }

    /// When the file last changed, or nil when it is not there.
    func modified() -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// Writes `pools` so that a reader sees the old file or the new one, never half of one.
    public static func write(_ pools: [String: [String]], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let temporary = path + ".new"
        try encoder.encode(pools).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw InstancesFileError("cannot rename \(temporary) to \(path): errno \(errno)") }
    }

    /// An instance's base URL: `http://host:port`, nothing after it.
    public static func instanceURL(_ text: String, option: String) throws -> URL {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let url = URL(string: trimmed.hasSuffix("/") ? String(trimmed.dropLast()) : trimmed), url.scheme == "http", url.host != nil,
            url.path.isEmpty, url.query == nil
        else {
            throw InstancesFileError("\(option): '\(text)' is not an instance URL such as http://127.0.0.1:8081")
        }
        return url
    }

    /// Applies the file to `pools` when it changed since `seen`; returns when it was last read.
    func refresh(_ pools: [Upstream: InstancePool], seen: Date?, logger: Logger) -> Date? {
        guard let modified = modified(), modified != seen else { return seen }
        do {
            for (upstream, instances) in try read() {
                guard let pool = pools[upstream], pool.instances != instances else { continue }
                pool.replace(with: instances)
                logger.info(
                    "instances changed", metadata: ["pool": "\(upstream.rawValue)", "instances": "\(instances.map(\.absoluteString))"])
            }
        } catch {
            logger.error(
                "cannot read the instances file: keeping the pools as they are", metadata: ["file": "\(path)", "error": "\(error)"])
        }
        return modified
    }
}

public struct InstancesFileError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
