import CMallocArenas
import XCTest

/// `bookdelivery`'s main caps glibc's malloc arenas through this helper: it has to reach mallopt.
final class MallocArenasTests: XCTestCase {
    func testTheCapReachesGlibc() throws {
        #if os(Linux)
            // mallopt answers 1 when it took the setting. A helper compiled without glibc's
            // declarations answers 0 and caps nothing: that happened once (a08d9e0).
            XCTAssertEqual(bookdelivery_limit_malloc_arenas(2), 1)
        #else
            throw XCTSkip("glibc only")
        #endif
    }
}
