import Bus
import Contracts
import Foundation
import GRDB
import Primitives
import ServiceKit

/// Delivery's state: one delivery per rental. Each method is one transaction; the events it causes
/// go to the outbox in that transaction, and event handlers record the event id in the inbox there too.
public struct DeliveryStore: Sendable {
    public let database: any DatabaseWriter
    public let outbox: Outbox
    /// The HTTP handlers' writes, committed in groups.
    public let writes: GroupCommit

    public init(database: any DatabaseWriter, outbox: Outbox = Outbox(), groupCommit: Bool = true) {
        self.database = database
        self.outbox = outbox
        writes = GroupCommit(database: database, enabled: groupCommit)
    }

    public static func open(path: String, storage: StorageOptions = StorageOptions()) throws -> DeliveryStore {
        DeliveryStore(
            database: try ServiceDatabase.open(at: path, migrator: DeliveryDatabase.migrator, durability: storage.durability),
            groupCommit: storage.groupCommit)
    }

    // MARK: Queries

    public func delivery(id: String) async throws -> Delivery {
        guard let delivery = try await database.read({ try Delivery.fetchOne($0, key: id) }) else {
            throw DeliveryError.unknownDelivery(id)
        }
        return delivery
    }

    /// With `rentalId`, that rental's delivery (zero or one); otherwise the deliveries newest first, a
    /// page at a time (one more than asked), with `statuses` only those in one of them.
    public func deliveries(rentalId: String?, statuses: [DeliveryStatus]? = nil, page: PageRequest = PageRequest(limit: 100)) async throws
        -> [Delivery]
    {
        try await database.read { db in
            if let rentalId { return try Delivery.filter(Delivery.Columns.rentalId == rentalId).fetchAll(db) }
            var request = Delivery.order(Delivery.Columns.createdAt.desc, Delivery.Columns.id.desc)
            if let statuses { request = request.filter(statuses.map(\.rawValue).contains(Delivery.Columns.status)) }
            if let after = page.after { request = request.filter(sql: "(createdAt, id) < (?, ?)", arguments: [after.position, after.id]) }
            return try request.limit(page.limit + 1).fetchAll(db)
        }
    }

    // MARK: Courier actions

    public func start(id: String) async throws -> Delivery {
        try await writes.write { db in try start(id: id, in: db) }
    }

    func start(id: String, in db: Database) throws -> Delivery {
        try change(id, in: db) { delivery, date in try delivery.start() ? DeliveryStarted(facts: delivery.facts).outgoing(at: date) : nil }
    }

    public func complete(id: String) async throws -> Delivery {
        try await writes.write { db in try complete(id: id, in: db) }
    }

    func complete(id: String, in db: Database) throws -> Delivery {
        try change(id, in: db) { delivery, date in
            try delivery.complete() ? DeliveryCompleted(facts: delivery.facts).outgoing(at: date) : nil
        }
    }

    /// `transition` gets the time of the change, which the delivery and its event both keep.
    private func change(_ id: String, in db: Database, _ transition: (inout Delivery, Date) throws -> OutgoingEvent?) throws -> Delivery {
        guard var delivery = try Delivery.fetchOne(db, where: Delivery.Columns.id, is: id) else { throw DeliveryError.unknownDelivery(id) }
        let date = Date()
        guard let event = try transition(&delivery, date) else { return delivery }
        delivery.updatedAt = Timestamp.string(from: date)
        try delivery.update(db)
        try outbox.append(event, in: db)
        return delivery
    }

    // MARK: Rental's news

    /// Schedules the delivery of a new rental. If the cancel request overtook the order, the
    /// delivery already exists as `canceled` and only learns its address.
    func schedule(_ order: RentalOrdered, causedBy envelope: EventEnvelope, in db: Database) throws {
        if var existing = try Delivery.fetchOne(db, where: Delivery.Columns.rentalId, is: order.rentalId) {
            existing.bookId = order.bookId
            existing.address = order.address
            existing.bookTitle = order.bookTitle
            try existing.update(db)
            return
        }
        let date = Date()
        let now = Timestamp.string(from: date)
        let delivery = Delivery(
            id: UUIDv7.string(), rentalId: order.rentalId, customerId: order.customerId, bookId: order.bookId,
            bookTitle: order.bookTitle, address: order.address, status: .ready, createdAt: now, updatedAt: now)
        try delivery.insertRow(db)
        try outbox.append(DeliveryScheduled(facts: delivery.facts).outgoing(causedBy: envelope, at: date), in: db)
    }

    /// Cancels a delivery that has not started; rejects the request otherwise. A request that
    /// arrives before the order creates the delivery directly as `canceled`.
    func cancel(_ request: RentalCancelRequested, causedBy envelope: EventEnvelope, in db: Database) throws {
        let date = Date()
        let now = Timestamp.string(from: date)
        var delivery =
            try Delivery.fetchOne(db, where: Delivery.Columns.rentalId, is: request.rentalId)
            ?? Delivery(
                id: UUIDv7.string(), rentalId: request.rentalId, customerId: request.customerId,
                bookId: request.bookId, bookTitle: nil, address: "", status: .ready, createdAt: now, updatedAt: now)
        switch delivery.cancel() {
        case .canceled:
            delivery.updatedAt = now
            try delivery.save(db)
            try outbox.append(DeliveryCanceled(facts: delivery.facts).outgoing(causedBy: envelope, at: date), in: db)
        case .rejected:
            try outbox.append(DeliveryCancelRejected(facts: delivery.facts).outgoing(causedBy: envelope, at: date), in: db)
        case .alreadyCanceled:
            break
        }
    }
}
