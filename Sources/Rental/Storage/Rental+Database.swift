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
    /// Inserts the rental on the order's hot path (``GRDB/Database/insertRow(into:_:)``).
    func insertRow(_ db: Database) throws {
        try db.insertRow(
            into: Self.databaseTableName,
            [
                "id": id, "customerId": customerId, "bookId": bookId, "address": address, "status": status,
                "createdAt": createdAt, "updatedAt": updatedAt,
            ])
    }
}
