import Contracts
import GRDB

// MARK: - Database

extension Delivery: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "deliveries"

    public enum Columns {
        public static let id = Column("id")
        public static let rentalId = Column("rentalId")
        public static let status = Column("status")
        public static let createdAt = Column("createdAt")
    }
}

extension DeliveryStatus: DatabaseValueConvertible {}

extension Delivery {
    /// Inserts the delivery through a statement compiled once per connection, for the hot path of
    /// a new order (GRDB's `insert` encodes through Codable and builds its SQL on every call).
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (id, rentalId, customerId, bookId, bookTitle, address, status, createdAt, updatedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        .execute(arguments: [id, rentalId, customerId, bookId, bookTitle, address, status, createdAt, updatedAt])
    }
}
