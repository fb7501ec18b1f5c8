import XCTest
final class DeliveryTestsPlaceholder: XCTestCase { func testNothing() {} }
