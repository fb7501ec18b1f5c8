import Foundation
import XCTest

@testable import Identity

/// Keys and tokens with real Ed25519 keys in a temporary directory.
final class IdentityTests: XCTestCase {
    private var directory: URL!

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("identity-\(UUID().uuidString)")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func keys(_ name: String = "keys") throws -> KeyDirectory {
        let keys = KeyDirectory(path: directory.appendingPathComponent(name).path)
        try keys.create()
        return keys
    }

    func testBase64URLDecodesWhatItEncodesAtEveryLengthAndRefusesWhatIsNotBase64() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let text = Base64URL.encode(bytes)
            XCTAssertFalse(text.contains { "+/=".contains($0) }, "url-safe and unpadded: \(text)")
            XCTAssertEqual(Base64URL.decode(Substring(text)), bytes, "length \(length)")
        }
        XCTAssertEqual(Base64URL.decode("-_8"), Data([0xFB, 0xFF]), "- and _ are 62 and 63")
        XCTAssertEqual(Base64URL.decode("YQ=="), Data("a".utf8), "padding is tolerated")
        for refused in ["a", "YQ$", "Y Q", "한글"] { XCTAssertNil(Base64URL.decode(Substring(refused)), refused) }
    }

    func testATokenVerifiesWithThePublicKeyAlone() async throws {
        let keys = try keys()
        let token = try await keys.issuer().token(subject: "alice", role: .customer)
        let caller = try await keys.verifier().verify(token)
        XCTAssertEqual(caller, Caller(subject: "alice", role: .customer))
    }

    func testARememberedTokenIsStillCheckedForExpiryAndATamperedOneIsNot() async throws {
        let keys = try keys()
        let verifier = try await keys.verifier()
        let token = try await keys.issuer().token(subject: "alice", role: .customer, lifetime: .seconds(3600))
        _ = try await verifier.verify(token)  // now remembered
        let again = try await verifier.verify(token)
        XCTAssertEqual(again, Caller(subject: "alice", role: .customer))
        do {
            _ = try await verifier.verify(token, now: Date().addingTimeInterval(2 * 3600))
            XCTFail("an expired token must be refused, remembered or not")
        } catch {
            XCTAssertEqual(error, .expired)
        }
        var tampered = Array(token.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        do {
            _ = try await verifier.verify(String(decoding: tampered, as: UTF8.self))
            XCTFail("another signature is checked, not taken from the remembered one")
        } catch {
            XCTAssertTrue([.badSignature, .malformed].contains(error), "\(error)")
        }
    }

    func testTheSigningKeyIsPrivateAndTheKeySetHoldsNoSecret() throws {
        let keys = try keys()
        let mode = try FileManager.default.attributesOfItem(atPath: keys.signingKeyPath)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        let set = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: keys.publicKeysPath))) as? [String: Any]
        let first = (set?["keys"] as? [[String: Any]])?.first
        XCTAssertNotNil(first?["kid"])
        XCTAssertEqual(first?["alg"] as? String, "EdDSA")
        XCTAssertNil(first?["d"], "the public key set must not carry the private part")
        XCTAssertThrowsError(try keys.create(), "existing keys are not overwritten by accident")
    }

    func testTokensThatMustBeRefused() async throws {
        let keys = try keys()
        let verifier = try await keys.verifier()
        let issuer = try keys.issuer()
        let good = try await issuer.token(subject: "alice", role: .customer)
        let parts = good.split(separator: ".").map(String.init)

        func rejection(_ token: String) async -> TokenRejection? {
            do {
                _ = try await verifier.verify(token)
                return nil
            } catch {
                return error
            }
        }

        // The signature of another token: a forged payload.
        let other = try await issuer.token(subject: "mallory", role: .admin).split(separator: ".").map(String.init)
        let badSignature = await rejection([parts[0], other[1], parts[2]].joined(separator: "."))
        XCTAssertEqual(badSignature, .badSignature)

        let noneHeader = Base64URL.encode(Data(#"{"alg":"none","typ":"JWT","kid":"\#(issuer.kid)"}"#.utf8))
        let algNone = await rejection("\(noneHeader).\(other[1]).")
        XCTAssertEqual(algNone, .algorithmNotAllowed("none"))

        let hmacHeader = Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT","kid":"\#(issuer.kid)"}"#.utf8))
        let hmac = await rejection("\(hmacHeader).\(parts[1]).\(parts[2])")
        XCTAssertEqual(hmac, .algorithmNotAllowed("HS256"))

        let strangerToken = try await self.keys("stranger").issuer().token(subject: "alice", role: .customer)
        let stranger = await rejection(strangerToken)
        XCTAssertEqual(stranger, .unknownKey, "a key pair that is not ours")

        let expiredToken = try await issuer.token(
            subject: "alice", role: .customer, lifetime: .seconds(60), now: Date().addingTimeInterval(-3600))
        let expired = await rejection(expiredToken)
        XCTAssertEqual(expired, .expired)

        var claims = TokenClaims(subject: "alice", role: .customer, issuedAt: Date(), expiresAt: Date().addingTimeInterval(600))
        claims.aud.value = ["another-api"]
        let wrongAudience = await rejection(try await issuer.sign(claims))
        XCTAssertEqual(wrongAudience, .wrongAudience)

        claims = TokenClaims(subject: "alice", role: .customer, issuedAt: Date(), expiresAt: Date().addingTimeInterval(600))
        claims.iss.value = "someone-else"
        let wrongIssuer = await rejection(try await issuer.sign(claims))
        XCTAssertEqual(wrongIssuer, .wrongIssuer)

        claims = TokenClaims(subject: "alice", role: .customer, issuedAt: Date(), expiresAt: Date().addingTimeInterval(7200))
        claims.nbf?.value = Date().addingTimeInterval(3600)
        let early = await rejection(try await issuer.sign(claims))
        XCTAssertEqual(early, .notYetValid)

        let malformed = await rejection("not-a-token")
        XCTAssertEqual(malformed, .malformed)
        let stillGood = await rejection(good)
        XCTAssertNil(stillGood, "and the good token still passes")
    }
}
