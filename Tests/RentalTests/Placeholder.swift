import XCTest
final class RentalTestsPlaceholder: XCTestCase { func testNothing() {} }
