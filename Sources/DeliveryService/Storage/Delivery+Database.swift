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
