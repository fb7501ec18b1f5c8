import Foundation
import Synchronization
import XCTest

/// The tests' files: each test's directory sits in one per test process
/// (`$TMPDIR/bookdelivery-tests-<pid>`), removed when the run ends without a failure. Before, every
/// directory stayed: a full run left about 150 in /tmp, a day's work 1,500. A run with a failure
/// keeps them and says where; so does one with `KEEP_TEST_FILES=1`. Rejected: removing each in its
/// test's tear-down (fifteen call sites, and a failing test's logs gone with it); `atexit` (it
/// cannot tell whether a test failed).
public enum TemporaryDirectory {
    public static func make(prefix: String) throws -> URL {
        let url = TestFiles.shared.root.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Watches the run for failures and removes the tests' files at its end.
final class TestFiles: NSObject, XCTestObservation, Sendable {
    static let shared: TestFiles = {
        let files = TestFiles()
        XCTestObservationCenter.shared.addTestObserver(files)
        return files
    }()

    let root = FileManager.default.temporaryDirectory.appendingPathComponent("bookdelivery-tests-\(getpid())")
    private let failed = Atomic(false)

    func testCase(_ testCase: XCTestCase, didFailWithDescription description: String, inFile filePath: String?, atLine lineNumber: Int) {
        failed.store(true, ordering: .relaxed)
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        if failed.load(ordering: .relaxed) || ProcessInfo.processInfo.environment["KEEP_TEST_FILES"] == "1" {
            print("the tests' files are kept in \(root.path)")
        } else {
            try? FileManager.default.removeItem(at: root)
        }
    }
}
