import Foundation

/// ISO-8601 UTC timestamps with milliseconds (`2026-11-21T09:05:03.042Z`), the one textual time
/// format of the project.
///
/// Written and read by hand: every order writes three of them and every consumer reads one per
/// event; Foundation's `ISO8601FormatStyle` took about 2 µs per call, this takes a few dozen ns.
public enum Timestamp {
    public static func string(from date: Date) -> String { string(milliseconds: milliseconds(date)) }

    /// The text of `milliseconds` since 1970 (UTC).
    public static func string(milliseconds: Int64) -> String {
        let (days, dayMilliseconds) = floorDivision(milliseconds, 86_400_000)
        let (year, month, day) = civil(days: days)
        let seconds = Int(dayMilliseconds / 1000)
        let millisecond = Int(dayMilliseconds % 1000)
        guard (0...9999).contains(year) else { return ISO8601DateFormatter().string(from: Date(milliseconds: milliseconds)) }
        return String(unsafeUninitializedCapacity: 24) { buffer in
            func put(_ value: Int, _ width: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(seconds / 3600, 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(seconds / 60 % 60, 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(seconds % 60, 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            put(millisecond, 3, at: 20)
            buffer[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    public static func date(from string: String) -> Date? { milliseconds(from: string).map(Date.init(milliseconds:)) }

    /// Milliseconds since 1970 of a timestamp in this format (fraction of 0 to 9 digits, `Z`); nil
    /// for anything else.
    public static func milliseconds(from string: String) -> Int64? {
        var text = string
        return text.withUTF8 { bytes -> Int64? in
            guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
                bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[bytes.count - 1] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ offset: Int, _ width: Int) -> Int? {
                var value = 0
                for index in offset..<offset + width {
                    let digit = Int(bytes[index]) - 48
                    guard (0...9).contains(digit) else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            var millisecond = 0
            if bytes.count > 20 {
                let digits = bytes.count - 21
                guard bytes[19] == UInt8(ascii: "."), (1...9).contains(digits), number(20, digits) != nil else { return nil }
                // The first three digits, padded: ".5" is 500 ms, ".123456" 123 ms.
                for index in 0..<3 { millisecond = millisecond * 10 + (index < digits ? Int(bytes[20 + index]) - 48 : 0) }
            } else {
                guard bytes.count == 20 else { return nil }
            }
            let days = Self.days(year: year, month: month, day: day)
            return Int64(days) * 86_400_000 + Int64(hour * 3600 + minute * 60 + second) * 1000 + Int64(millisecond)
        }
    }

    /// Milliseconds since 1970, the form stored in SQLite where times are compared.
    public static func milliseconds(_ date: Date = Date()) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: - Civil calendar (Howard Hinnant's algorithms, proleptic Gregorian)

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value >= 0 ? value / divisor : (value - divisor + 1) / divisor
        return (quotient, value - quotient * divisor)
    }

    private static func civil(days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = Int(days) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func days(year: Int, month: Int, day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension Date {
    init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
