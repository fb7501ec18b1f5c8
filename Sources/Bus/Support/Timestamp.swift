import Foundation

/// ISO-8601 UTC timestamps with milliseconds, the one textual time format of the project.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func string(from date: Date) -> String { style.format(date) }

    public static func date(from string: String) -> Date? { try? style.parse(string) }

    /// Milliseconds since 1970, the form stored in SQLite where times are compared.
    public static func milliseconds(_ date: Date = Date()) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }
}
