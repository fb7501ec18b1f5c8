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
