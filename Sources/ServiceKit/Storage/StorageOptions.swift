/// How a service keeps its SQLite file: how durable a commit is, and whether concurrent writes share
/// transactions (``GroupCommit``).
public struct StorageOptions: Sendable {
    public enum Durability: String, Sendable, CaseIterable {
        /// `synchronous = FULL`: a commit waits for the disk (one fsync of the WAL), so an answered
        /// order survives an OS crash or a power loss. The default.
        case full
        /// `synchronous = NORMAL`: commits return before the disk has them; an OS crash or power
        /// loss can roll back the last commits (never corrupt the file) whose events may already be
        /// published. A process crash loses nothing.
        case normal
    }

    public var durability: Durability
    /// Off: one transaction per write, for measuring what group commit buys.
    public var groupCommit: Bool

    public init(durability: Durability = .full, groupCommit: Bool = true) {
        self.durability = durability
        self.groupCommit = groupCommit
    }
}
