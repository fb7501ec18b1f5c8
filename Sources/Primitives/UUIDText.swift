/// UUIDs as text, read on the bytes.
///
/// Foundation's `UUID(uuidString:)` parses with `sscanf`: for a consumer that checks every event's
/// id, that was a fifth of the time spent handling a batch. It also takes a last group one digit
/// short (35 characters) and reads another id from it.
public enum UUIDText {
    /// Whether `text` is a UUID in its 36-character form (8-4-4-4-12 hex digits, any case).
    /// Allocates nothing; a consumer checks every event's id with it.
    public static func isUUID(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.count == 36 else { return false }
            for index in 0..<36 {
                let byte = bytes[index]
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard byte == UInt8(ascii: "-") else { return false }
                } else {
                    // A digit, or a letter a-f in either case (| 0x20 lowercases A-F and leaves a-f).
                    guard byte &- UInt8(ascii: "0") < 10 || (byte | 0x20) &- UInt8(ascii: "a") < 6 else { return false }
                }
            }
            return true
        }
    }

    /// `text` in lowercase if it is a UUID in its 36-character form, else nil.
    public static func canonical(_ text: String) -> String? {
        guard isUUID(text) else { return nil }
        var text = text
        return text.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: 36) { output in
                // Digits and "-" have the 0x20 bit already; it turns A-F into a-f.
                for index in 0..<36 { output[index] = bytes[index] | 0x20 }
                return 36
            }
        }
    }
}
