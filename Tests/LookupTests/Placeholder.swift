import XCTest
final class LookupTestsPlaceholder: XCTestCase { func testNothing() {} }
