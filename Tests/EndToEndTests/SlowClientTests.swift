import Foundation
import ProcessSupport
import TestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A slowloris client sends its request head a line at a time, each just before the idle timeout
/// would fire: the header-read timeout must still cut it off, at the gateway and at a service.
final class SlowClientTests: XCTestCase {
    func testAClientThatNeverFinishesItsHeadersIsCutOff() async throws {
        let cluster = try await ServiceCluster.start()
        try await cluster.startGateway()
        async let gateway = Self.secondsUntilClosed(port: cluster.ports["gateway"]!)
        async let rental = Self.secondsUntilClosed(port: cluster.ports["rental"]!)
        let (atGateway, atRental) = try await (gateway, rental)
        XCTAssertNotNil(atGateway, "the gateway closes the connection")
        XCTAssertNotNil(atRental, "Rental closes the connection")
        print("FIGURE slowloris cut off after \(atGateway ?? -1) s at the gateway, \(atRental ?? -1) s at Rental (header timeout 10 s)")
        let healthy = try await cluster.send("gateway", "GET", "/books")
        XCTAssertEqual(healthy.status, 200, "and others are served meanwhile")
    }

    /// Sends a header line every second; returns after how many seconds the server closed, or nil
    /// if it still held the connection after 20 s.
    private static func secondsUntilClosed(port: Int) async throws -> Int? {
        guard let fd = TCPPort.connect(to: port) else { throw TestSupportError("connect to \(port)") }
        defer { close(fd) }
        let lines = ["GET /books HTTP/1.1\r\n", "Host: localhost\r\n"] + (0..<30).map { "X-Slow-\($0): x\r\n" }
        for (second, line) in lines.enumerated() where second < 20 {
            let sent = line.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            if sent < 0 { return second }
            try await Task.sleep(for: .seconds(1))
            var byte: UInt8 = 0
            let received = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
            if received == 0 || (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return second + 1 }
        }
        return nil
    }
}
