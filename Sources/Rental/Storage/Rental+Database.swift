import Contracts
import GRDB

// MARK: - Database

extension Rental: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "rentals"

    public enum Columns {
        public static let id = Column("id")
        public static let customerId = Column("customerId")
        public static let createdAt = Column("createdAt")
    }
}

extension RentalStatus: DatabaseValueConvertible {}

extension Rental {
    /// Inserts the rental through a statement compiled once per connection, for the order's hot
    /// path (GRDB's `insert` encodes through Codable and builds its SQL on every call).
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(
            sql: "INSERT INTO rentals (id, customerId, bookId, address, status, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        .execute(arguments: [id, customerId, bookId, address, status, createdAt, updatedAt])
    }
}
