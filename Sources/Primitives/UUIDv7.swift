import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Time-ordered UUIDs (RFC 9562, version 7) as lowercase text: the project's ids for events, books,
/// rentals and deliveries.
///
/// The first 48 bits are the Unix time in milliseconds, so ids made later sort later: new rows go to
/// the end of SQLite's primary-key indexes instead of random pages, and ids read in stream order
/// read in time order. The other 74 bits are random, from the kernel (`/dev/urandom`, kept open) 4 KiB at a time:
/// Foundation's `UUID()` on Linux reads `/dev/urandom` and formats with `sprintf` for each id.
public enum UUIDv7 {
    private struct RandomPool {
        /// Opened once, for the life of the process.
        static let urandom: Int32 = {
            let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            precondition(descriptor >= 0, "cannot open /dev/urandom")
            return descriptor
        }()

        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096

        mutating func take(_ count: Int) -> ArraySlice<UInt8> {
            if used + count > bytes.count {
                bytes.withUnsafeMutableBytes { buffer in
                    var filled = 0
                    while filled < buffer.count {
                        let got = read(Self.urandom, buffer.baseAddress! + filled, buffer.count - filled)
                        if got > 0 { filled += got } else if errno != EINTR { fatalError("reading /dev/urandom failed: errno \(errno)") }
                    }
                }
                used = 0
            }
            defer { used += count }
            return bytes[used..<used + count]
        }
    }

    private static let pool = Mutex(RandomPool())
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A new id, e.g. `019aa5b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b`.
    public static func string(at date: Date = Date()) -> String {
        let milliseconds = UInt64(max(0, Timestamp.milliseconds(date)))
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(index))) }
        pool.withLock { pool in
            let random = pool.take(10)
            for index in 0..<10 { bytes[6 + index] = random[random.startIndex + index] }
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return String(unsafeUninitializedCapacity: 36) { text in
            var position = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[position] = UInt8(ascii: "-")
                    position += 1
                }
                text[position] = hexDigits[Int(byte >> 4)]
                text[position + 1] = hexDigits[Int(byte & 0x0F)]
                position += 2
            }
            return 36
        }
    }
}
