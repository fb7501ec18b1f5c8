import Foundation

/// Files that hold secrets: written whole (a temporary file renamed over the old one, fsync-ed) and
/// created with their mode from the first byte, never chmod-ed after.
public enum PrivateFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw PrivateFileError(path: path) }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PrivateFileError(path: path)
        }
    }
}

public struct PrivateFileError: Error, CustomStringConvertible {
    public let path: String
    public var description: String { "cannot write \(path)" }
}

/// Base64url without padding (RFC 7515 §2): JWTs, and the API's page cursors.
public enum Base64URL {
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The bytes of unpadded (or padded) base64url text; nil when it is not that. Byte by byte: it
    /// runs for every token the verifier has not seen yet, and Foundation's `replacingOccurrences`
    /// went through NSString (a fifth of a signature check in the gateway's profile).
    public static func decode(_ text: Substring) -> Data? {
        var base64 = [UInt8]()
        base64.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"): base64.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): base64.append(UInt8(ascii: "/"))
            default: base64.append(byte)
            }
        }
        base64 += repeatElement(UInt8(ascii: "="), count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: Data(base64))
    }
}
