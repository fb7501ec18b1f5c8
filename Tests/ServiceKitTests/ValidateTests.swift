import Bus
import Contracts
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Identity
import Primitives
import Redis
import ServiceKit
import ServiceTestSupport
import Synchronization
import TestSupport
import XCTest

/// The byte-level fast paths of `Validate` give the answers of the general checks they skip.
final class ValidateTests: XCTestCase {
    func testCanonicalUUIDAcceptsThe36CharacterFormAndLowercasesIt() {
        let random = UUID()
        for valid in ["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", "0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6", random.uuidString] {
            XCTAssertEqual(Validate.canonicalUUID(valid), UUID(uuidString: valid)?.uuidString.lowercased(), valid)
        }
        XCTAssertEqual(Validate.canonicalUUID(random.uuidString), random.uuidString.lowercased())
        let invalid = [
            // Foundation's parser takes this one (a last group one digit short) for "…e50f": another id.
            "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f",
            "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6a", "0192f3c45b6a-7c8d-9e0f-a1b2c3d4e5f6-", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5g6",
            "0192f3c4_5b6a-7c8d-9e0f-a1b2c3d4e5f6", " 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f", "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5fé", "",
            "not a uuid at all, but 36 long!!!!!",
        ]
        for sample in invalid { XCTAssertNil(Validate.canonicalUUID(sample), sample) }
        // The allocation-free check the consumers use agrees with it on every sample.
        for sample in invalid + ["0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", random.uuidString, "0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6"] {
            XCTAssertEqual(UUIDText.isUUID(sample), Validate.canonicalUUID(sample) != nil, sample)
        }
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let sample = "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f" + String(UnicodeScalar(byte))
            XCTAssertEqual(UUIDText.isUUID(sample), "0123456789abcdefABCDEF".utf8.contains(byte), sample)
        }
    }

    func testTextTrimsAndRefusesLikeTheGeneralChecks() throws {
        XCTAssertEqual(try Validate.text("  Dune  ", "title"), "Dune")
        XCTAssertEqual(try Validate.text("Dune", "title"), "Dune")
        XCTAssertEqual(try Validate.text("\u{00A0}Dune\u{3000}", "title"), "Dune", "Unicode spaces are trimmed by the general path")
        XCTAssertEqual(try Validate.text(" Déjà vu ", "title"), "Déjà vu")
        for bad in [nil, "", "   ", "Dune\n", "Du\u{0}ne", "\tDune", String(repeating: "x", count: 11)] {
            XCTAssertThrowsError(try Validate.text(bad, "title", maxLength: 10), "\(String(describing: bad))")
        }
        XCTAssertEqual(try Validate.text(String(repeating: "x", count: 10), "title", maxLength: 10).count, 10)
        XCTAssertEqual(try Validate.uuid(" 0192F3C4-5B6A-7C8D-9E0F-A1B2C3D4E5F6 ", "bookId"), "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6")
        XCTAssertThrowsError(try Validate.uuid("0192f3c4-5b6a-7c8d-9e0f", "bookId"))
    }
}
