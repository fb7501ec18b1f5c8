import Redis

/// Names and fields of dead-letter streams.
///
/// An entry that a group could not handle in the configured number of attempts, or could not
/// decode at all, is copied to `<stream>:dead:<group>` with its original fields plus `dead.*` fields
/// saying why, then acknowledged so the group moves on. ``DeadLetterRedrive`` puts entries back.
public enum DeadLetter {
    public static let separator = ":dead:"

    public static func stream(for stream: String, group: String) -> String {
        stream + separator + group
    }

    /// The source stream and group of a dead-letter stream name, or nil for any other stream.
    public static func source(of deadLetterStream: String) -> (stream: String, group: String)? {
        guard let range = deadLetterStream.range(of: separator, options: .backwards) else { return nil }
        return (String(deadLetterStream[..<range.lowerBound]), String(deadLetterStream[range.upperBound...]))
    }

    /// The fields the dead-letter entry adds to the original ones; ``originalFields(of:)`` strips them.
    public static let fieldPrefix = "dead."

    /// A dead-letter entry's fields as the event had them, without the `dead.*` ones.
    public static func originalFields(of entry: StreamEntry) -> [String: String] {
        (entry.fields ?? [:]).filter { !$0.key.hasPrefix(fieldPrefix) }
    }

    static func fields(
        original: [String: String]?, stream: String, entryId: String, group: String, consumer: String,
        attempts: Int, error: String, at time: String
    ) -> [String] {
        orderedFields(original ?? [:]) + [
            "dead.stream", stream, "dead.entryId", entryId, "dead.group", group, "dead.consumer", consumer,
            "dead.attempts", String(attempts), "dead.error", error, "dead.at", time,
        ]
    }

    /// Flattens fields for `XADD`: the envelope's fields in their usual order first, then any others
    /// sorted, so that entries read the same in `XRANGE` wherever they are copied.
    static func orderedFields(_ fields: [String: String]) -> [String] {
        var flat: [String] = []
        for name in EventEnvelope.fieldNames { if let value = fields[name] { flat += [name, value] } }
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) where !EventEnvelope.fieldNames.contains(name) {
            flat += [name, value]
        }
        return flat
    }
}
