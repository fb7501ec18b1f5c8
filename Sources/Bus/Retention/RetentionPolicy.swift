/// How long stream entries are kept.
///
/// Entries go only once every consumer group of their stream has read and acknowledged them, and
/// even then the newest `minimumCount` entries and everything younger than `minimumAge` stay, so
/// that a rebuild or a late group has history. Past `hardCap` entries the oldest go whatever the
/// groups have read: that protects Redis's memory from a group that stopped for good, and it is
/// loud (a warning, `bus_stream_trimmed_total{reason="cap"}`, and a count that `bookdelivery
/// streams` and `/health` show).
public struct RetentionPolicy: Sendable, Equatable {
    public var minimumAge: Duration
    public var minimumCount: Int
    /// Nil: no cap.
    public var hardCap: Int?

    public init(minimumAge: Duration = .seconds(7 * 24 * 3600), minimumCount: Int = 10_000, hardCap: Int? = 5_000_000) {
        self.minimumAge = minimumAge
        self.minimumCount = minimumCount
        self.hardCap = hardCap
    }

    /// The Redis hash that counts, per stream, the entries the hard cap removed.
    public static let capTrimmedKey = "bus:retention:cap-trimmed"
}
