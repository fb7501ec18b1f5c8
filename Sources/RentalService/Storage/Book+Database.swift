import GRDB

// MARK: - Database

extension Book: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "books"

    public enum Columns {
        public static let id = Column("id")
        public static let createdAt = Column("createdAt")
    }
}
