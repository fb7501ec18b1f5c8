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
    /// Inserts the delivery on a new order's hot path (``GRDB/Database/insertRow(into:_:)``).
    func insertRow(_ db: Database) throws {
        try db.insertRow(
            into: Self.databaseTableName,
            [
                "id": id, "rentalId": rentalId, "customerId": customerId, "bookId": bookId, "bookTitle": bookTitle,
                "address": address, "status": status, "createdAt": createdAt, "updatedAt": updatedAt,
            ])
    }
}
