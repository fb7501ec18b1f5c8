/// A stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them (as numbers, not text:
/// `9-0` comes before `10-0`).
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64 = 0) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `ms-seq` (or a bare `ms`, as Redis accepts); nil for anything else. Reads the bytes
    /// once, without allocating: the relay parses every id Redis gives it.
    public init?(_ text: String) {
        var milliseconds: UInt64 = 0
        var sequence: UInt64 = 0
        var digits = 0
        var inSequence = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") {
                guard !inSequence, digits > 0 else { return nil }
                inSequence = true
                digits = 0
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            let (scaled, overflow) = (inSequence ? sequence : milliseconds).multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = scaled.addingReportingOverflow(digit)
            guard !overflow, !overflowAdd else { return nil }
            if inSequence { sequence = sum } else { milliseconds = sum }
            digits += 1
        }
        guard digits > 0 else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    public static let zero = StreamID(milliseconds: 0)

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
