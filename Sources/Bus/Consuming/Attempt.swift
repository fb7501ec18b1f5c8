import Redis

/// One attempt at handling a stream entry: the entry, and which attempt of the group this is
/// (Redis counts them as the entry's delivery count).
struct Attempt: Sendable, Equatable {
    var entry: StreamEntry
    var number: Int
}

/// Where an entry lives: its stream and its id.
struct EntryKey: Hashable, Sendable {
    var stream: String
    var id: String
}

extension StreamEntry {
    var key: EntryKey { EntryKey(stream: stream, id: id) }
}
