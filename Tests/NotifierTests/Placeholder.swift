import XCTest
final class NotifierTestsPlaceholder: XCTestCase { func testNothing() {} }
