import NIOCore
import Synchronization

/// The last good answer of each public read (the catalogue), served marked stale while Rental
/// cannot answer. Bounded: the oldest copies go first.
final class StaleCopies: Sendable {
    struct Copy: Sendable {
        var body: ByteBuffer
        var contentType: String?
        var link: String?
        var storedAt: ContinuousClock.Instant
    }

    private let copies = Mutex<[String: Copy]>([:])
    private let maximumCopies: Int
    private let maximumSize = 1024 * 1024

    init(maximumCopies: Int = 256) { self.maximumCopies = maximumCopies }

    func store(_ target: String, _ copy: Copy) {
        guard copy.body.readableBytes <= maximumSize else { return }
        copies.withLock { copies in
            if copies[target] == nil, copies.count >= maximumCopies,
                let oldest = copies.min(by: { $0.value.storedAt < $1.value.storedAt })?.key
            {
                copies[oldest] = nil
            }
            copies[target] = copy
        }
    }

    func copy(of target: String) -> Copy? { copies.withLock { $0[target] } }
}
