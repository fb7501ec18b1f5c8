import GRDB

// MARK: - Database

extension Alert: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "alerts"

    public enum Columns {
        public static let id = Column("id")
        public static let customerId = Column("customerId")
        public static let kind = Column("kind")
        public static let createdAt = Column("createdAt")
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension Alert.Kind: DatabaseValueConvertible {}
