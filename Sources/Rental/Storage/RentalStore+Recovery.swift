import Bus
import Contracts
import GRDB
import ServiceKit
import Synchronization

extension RentalStore {
    /// How Rental catches up from the streams on a restored database (``StreamRecovery``).
    ///
    /// Its own events are replayed as facts: books and rentals with their ids and times, statuses
    /// moved forward only. Delivery's news moves statuses forward too, with the times its events
    /// carry. Copies are not counted event by event: the live order of orders, cancels and returns
    /// across the two streams is not known, and counting in another order could break
    /// `0 <= available <= copies` on the way. Instead each touched book's `available` is counted
    /// once at the end from what defines it: its copies minus its rentals that hold one.
    public var recoveryRoutes: RecoveryRoutes {
        let touched = TouchedBooks()
        var consumed = EventRoutes(group: ConsumerGroups.rental, database: database)
        func news<Event: DeliveryEvent>(_: Event.Type) {
            guard let status = Event.rentalStatus else { return }
            consumed.on(Event.self) { event, envelope, db in
                touched.add(try advance(rentalId: event.rentalId, to: status, at: envelope.occurredAt, releasingCopy: false, in: db))
            }
        }
        news(DeliveryStarted.self)
        news(DeliveryCompleted.self)
        news(DeliveryCanceled.self)
        news(DeliveryCancelRejected.self)
        var routes = RecoveryRoutes(ownStream: Streams.rental, consumed: consumed, consumedStreams: [Streams.delivery])
        routes.onOwn(BookRegistered.self) { book, envelope, _, db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO books (id, title, author, copies, available, createdAt) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [book.bookId, book.title, book.author, book.copies, book.copies, envelope.occurredAt])
            touched.add(book.bookId)
        }
        routes.onOwn(RentalOrdered.self) { order, envelope, _, db in
            guard try Rental.fetchOne(db, key: order.rentalId) == nil else { return }
            try Rental(
                id: order.rentalId, customerId: order.customerId, bookId: order.bookId, address: order.address, status: .ordered,
                createdAt: envelope.occurredAt, updatedAt: envelope.occurredAt
            ).insertRow(db)
            touched.add(order.bookId)
        }
        routes.onOwn(RentalCancelRequested.self) { request, envelope, _, db in
            touched.add(
                try advance(rentalId: request.rentalId, to: .cancelRequested, at: envelope.occurredAt, releasingCopy: false, in: db))
        }
        routes.onOwn(RentalReturned.self) { returned, envelope, _, db in
            touched.add(try advance(rentalId: returned.rentalId, to: .returned, at: envelope.occurredAt, releasingCopy: false, in: db))
        }
        routes.finish = { db in
            let holding = RentalStatus.allCases.filter(\.holdsCopy).map(\.rawValue)
            // One pass over the rentals (there is no index by book), then the touched books.
            var held: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql:
                    "SELECT bookId, count(*) AS held FROM rentals WHERE status IN (\(holding.map { _ in "?" }.joined(separator: ","))) GROUP BY bookId",
                arguments: StatementArguments(holding))
            {
                held[row["bookId"]] = row["held"]
            }
            for bookId in touched.all {
                // Fails the recovery (CHECK) if more rentals hold copies than the book has.
                try db.execute(sql: "UPDATE books SET available = copies - ? WHERE id = ?", arguments: [held[bookId] ?? 0, bookId])
            }
        }
        return routes
    }
}

/// The books a recovery changed rentals of, whose copies it counts at the end.
private final class TouchedBooks: Sendable {
    private let books = Mutex<Set<String>>([])
    func add(_ bookId: String?) { if let bookId { books.withLock { _ = $0.insert(bookId) } } }
    var all: Set<String> { books.withLock { $0 } }
}
