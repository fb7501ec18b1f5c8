/// UUIDs as text, read on the bytes.
///
/// Foundation's `UUID(uuidString:)` parses with `sscanf`: for a consumer that checks every event's
/// id, that was a fifth of the time spent handling a batch. It also takes a last group one digit
/// short (35 characters) and reads another id from it.
public enum UUIDText {
    /// `text` in lowercase if it is a UUID in its 36-character form (8-4-4-4-12 hex digits, any
    /// case), else nil.
    public static func canonical(_ text: String) -> String? {
        var text = text
        return text.withUTF8 { bytes -> String? in
            guard bytes.count == 36 else { return nil }
            let lowercased = String(unsafeUninitializedCapacity: 36) { output in
                for (index, byte) in bytes.enumerated() {
                    guard let kept = canonicalByte(byte, at: index) else { return 0 }
                    output[index] = kept
                }
                return 36
            }
            return lowercased.isEmpty ? nil : lowercased
        }
    }

    /// Whether `text` is a UUID in its 36-character form, in any case. Allocates nothing; a consumer
    /// checks every event's id with it.
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

    /// The byte at `index` of a canonical (lowercase) UUID, or nil when `byte` cannot stand there.
    private static func canonicalByte(_ byte: UInt8, at index: Int) -> UInt8? {
        switch (index, byte) {
        case (8, UInt8(ascii: "-")), (13, UInt8(ascii: "-")), (18, UInt8(ascii: "-")), (23, UInt8(ascii: "-")): byte
        case (8, _), (13, _), (18, _), (23, _): nil
        case (_, UInt8(ascii: "0")...UInt8(ascii: "9")), (_, UInt8(ascii: "a")...UInt8(ascii: "f")): byte
        case (_, UInt8(ascii: "A")...UInt8(ascii: "F")): byte | 0x20
        default: nil
        }
    }
}
