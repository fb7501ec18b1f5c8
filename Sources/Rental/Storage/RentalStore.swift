import Bus
import Contracts
import Foundation
import GRDB
import Primitives
import ServiceKit

/// Rental's state. Each method is one transaction that keeps the invariants (a copy reserved per
/// open rental, released once) and writes the events it causes to the outbox in that same transaction.
public struct RentalStore: Sendable {
    public let database: any DatabaseWriter
    public let outbox: Outbox
    /// The HTTP handlers' writes, committed in groups.
    public let writes: GroupCommit

    public init(database: any DatabaseWriter, outbox: Outbox = Outbox(), groupCommit: Bool = true) {
        self.database = database
        self.outbox = outbox
        writes = GroupCommit(database: database, enabled: groupCommit)
    }

    /// Opens (creating and migrating as needed) the SQLite file at `path`.
    public static func open(path: String, storage: StorageOptions = StorageOptions()) throws -> RentalStore {
        RentalStore(
            database: try ServiceDatabase.open(at: path, migrator: RentalDatabase.migrator, durability: storage.durability),
            groupCommit: storage.groupCommit)
    }

    // MARK: Books

    public func registerBook(title: String, author: String, copies: Int) async throws -> Book {
        try await writes.write { db in try registerBook(title: title, author: author, copies: copies, in: db) }
    }

    func registerBook(title: String, author: String, copies: Int, in db: Database) throws -> Book {
        let date = Date()
        let book = Book(
            id: UUIDv7.string(), title: title, author: author, copies: copies, available: copies, createdAt: Timestamp.string(from: date))
        try book.insert(db)
        try outbox.append(BookRegistered(bookId: book.id, title: title, author: author, copies: copies).outgoing(at: date), in: db)
        return book
    }

    /// The catalogue in the order books were registered, a page at a time (one more than asked, to
    /// show that more follow); with `search`, only books whose title or author contains it (ignoring
    /// ASCII case).
    public func books(page: PageRequest, matching search: String? = nil) async throws -> [Book] {
        try await database.read { db in
            var request = Book.order(Book.Columns.createdAt, Book.Columns.id)
            if let search {
                request = request.filter(
                    sql: "instr(lower(title), lower(?)) > 0 OR instr(lower(author), lower(?)) > 0", arguments: [search, search])
            }
            if let after = page.after { request = request.filter(sql: "(createdAt, id) > (?, ?)", arguments: [after.position, after.id]) }
            return try request.limit(page.limit + 1).fetchAll(db)
        }
    }

    public func book(id: String) async throws -> Book {
        guard let book = try await database.read({ try Book.fetchOne($0, key: id) }) else { throw RentalError.unknownBook(id) }
        return book
    }

    // MARK: Rentals

    /// Reserves a copy and records the order; Delivery learns of it through `RentalOrdered`.
    public func order(customerId: String, bookId: String, address: String) async throws -> Rental {
        try await writes.write { db in try order(customerId: customerId, bookId: bookId, address: address, in: db) }
    }

    func order(customerId: String, bookId: String, address: String, in db: Database) throws -> Rental {
        guard var book = try Book.fetchOne(db, where: Book.Columns.id, is: bookId) else { throw RentalError.unknownBook(bookId) }
        guard book.available > 0 else { throw RentalError.noCopyAvailable(bookId) }
        book.available -= 1
        try book.updateAvailable(db)
        let date = Date()
        let now = Timestamp.string(from: date)
        let rental = Rental(
            id: UUIDv7.string(), customerId: customerId, bookId: bookId, address: address,
            status: .ordered, createdAt: now, updatedAt: now)
        try rental.insertRow(db)
        try outbox.append(
            RentalOrdered(rentalId: rental.id, customerId: customerId, bookId: bookId, bookTitle: book.title, address: address)
                .outgoing(at: date),
            in: db)
        return rental
    }

    /// The rental `id`; with `owner`, only if it is that customer's (another's is "unknown", a 404).
    public func rental(id: String, owner: String? = nil) async throws -> Rental {
        try await database.read { db in try Self.rental(id: id, owner: owner, in: db) }
    }

    private static func rental(id: String, owner: String?, in db: Database) throws -> Rental {
        guard let rental = try Rental.fetchOne(db, where: Rental.Columns.id, is: id), owner == nil || rental.customerId == owner else {
            throw RentalError.unknownRental(id)
        }
        return rental
    }

    /// The customer's rentals, newest first, a page at a time (one more than asked).
    public func rentals(customerId: String, page: PageRequest = PageRequest(limit: 100)) async throws -> [Rental] {
        try await database.read { db in
            var request = Rental.filter(Rental.Columns.customerId == customerId)
                .order(Rental.Columns.createdAt.desc, Rental.Columns.id.desc)
            if let after = page.after { request = request.filter(sql: "(createdAt, id) < (?, ?)", arguments: [after.position, after.id]) }
            return try request.limit(page.limit + 1).fetchAll(db)
        }
    }

    /// Marks the rental `cancel_requested` and asks Delivery to cancel; the outcome comes back as an event.
    public func requestCancel(id: String, owner: String? = nil) async throws -> Rental {
        try await writes.write { db in try requestCancel(id: id, owner: owner, in: db) }
    }

    func requestCancel(id: String, owner: String?, in db: Database) throws -> Rental {
        var rental = try Self.rental(id: id, owner: owner, in: db)
        guard try rental.requestCancel() else { return rental }
        let date = Date()
        rental.updatedAt = Timestamp.string(from: date)
        try rental.update(db)
        try outbox.append(
            RentalCancelRequested(rentalId: id, customerId: rental.customerId, bookId: rental.bookId).outgoing(at: date), in: db)
        return rental
    }

    /// Takes the book back: the copy is available again.
    public func returnRental(id: String, owner: String? = nil) async throws -> Rental {
        try await writes.write { db in try returnRental(id: id, owner: owner, in: db) }
    }

    func returnRental(id: String, owner: String?, in db: Database) throws -> Rental {
        var rental = try Self.rental(id: id, owner: owner, in: db)
        try rental.markReturned()
        let date = Date()
        rental.updatedAt = Timestamp.string(from: date)
        try rental.update(db)
        try Self.releaseCopy(of: rental.bookId, in: db)
        try outbox.append(RentalReturned(rentalId: id, customerId: rental.customerId, bookId: rental.bookId).outgoing(at: date), in: db)
        return rental
    }

    // MARK: Delivery's news

    /// Moves the rental to `status` inside the consumer's transaction, whatever order events come in.
    /// `time` is when the change was made, as its event says (so a recovery from the streams gives
    /// the same time); `releasingCopy: false` leaves the book's copies to the caller (the recovery
    /// counts them once at the end). Returns the rental's book when the status changed.
    @discardableResult
    func advance(rentalId: String, to status: RentalStatus, at time: String, releasingCopy: Bool = true, in db: Database) throws -> String?
    {
        guard var rental = try Rental.fetchOne(db, where: Rental.Columns.id, is: rentalId) else { return nil }  // not ours
        let (changed, releasesCopy) = rental.advance(to: status)
        guard changed else { return nil }
        rental.updatedAt = time
        try rental.update(db)
        if releasesCopy, releasingCopy { try Self.releaseCopy(of: rental.bookId, in: db) }
        return rental.bookId
    }

    /// A copy released twice would break `available <= copies`: the CHECK constraint fails the
    /// transaction instead of hiding the bug.
    private static func releaseCopy(of bookId: String, in db: Database) throws {
        try db.cachedStatement(sql: "UPDATE books SET available = available + 1 WHERE id = ?").execute(arguments: [bookId])
    }
}
