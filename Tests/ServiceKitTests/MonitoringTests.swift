import Bus
import Foundation
import ServiceKit
import XCTest

/// What `/metrics` takes at scrape time: gauges that follow what is there now, and the process's own figures.
final class MonitoringTests: XCTestCase {
    private var exported: String { String(decoding: ServiceMetrics.registry.emitToBuffer(), as: UTF8.self) }

    func testAReadingReplacesTheSeriesOfItsMetricsAndRemovesTheGoneOnes() {
        let gauges = ScrapedGauges()
        let name = "test_scraped_entries"
        gauges.replace([name], with: [.init(name, [("group", "a")], 3), .init(name, [("group", "b")], 5)])
        XCTAssertTrue(exported.contains(#"test_scraped_entries{group="a"} 3"#), exported)
        XCTAssertTrue(exported.contains(#"test_scraped_entries{group="b"} 5"#))
        // Group b retired: its series goes instead of staying at 5.
        gauges.replace([name], with: [.init(name, [("group", "a")], 4)])
        XCTAssertTrue(exported.contains(#"test_scraped_entries{group="a"} 4"#))
        XCTAssertFalse(exported.contains(#"test_scraped_entries{group="b"}"#), "a series no longer read is removed")
        // Another metric's reading leaves this one alone.
        gauges.replace(["test_other"], with: [.init("test_other", 1)])
        XCTAssertTrue(exported.contains(#"test_scraped_entries{group="a"} 4"#))
    }

    func testTheProcessReportsItsMemoryAndCPUUnderPrometheusNames() throws {
        #if os(Linux)
            let gauges = ScrapedGauges()
            ProcessMetrics.read(into: gauges)
            let rss = try XCTUnwrap(value(of: "process_resident_memory_bytes"))
            XCTAssertGreaterThan(rss, 1_048_576, "over a megabyte resident")
            XCTAssertGreaterThan(try XCTUnwrap(value(of: "process_start_time_seconds")), Date().timeIntervalSince1970 - 86_400 * 365)
            XCTAssertNotNil(value(of: "process_cpu_seconds_total"))
            XCTAssertGreaterThan(try XCTUnwrap(value(of: "process_open_fds")), 2)
        #endif
    }

    private func value(of name: String) -> Double? {
        exported.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    func testAnEventCarriesItsTraceContextAsEntryFields() throws {
        var envelope = EventEnvelope(type: "T", key: "k", data: "{}")
        XCTAssertFalse(envelope.fields.contains("traceparent"), "none when tracing is off")
        envelope.traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        envelope.traceState = "vendor=1"
        let fields = envelope.fields
        XCTAssertEqual(fields[fields.firstIndex(of: "traceparent")! + 1], envelope.traceParent)
        let back = try EventEnvelope(fieldList: fields)
        XCTAssertEqual(back.traceParent, envelope.traceParent)
        XCTAssertEqual(back.traceState, "vendor=1")
    }
}
