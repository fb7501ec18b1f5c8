import GRDB

// MARK: - Database

extension Book: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "books"

    public enum Columns {
        public static let id = Column("id")
        public static let createdAt = Column("createdAt")
    }
}

extension Book {
    /// Writes `available` alone, through a statement compiled once per connection: an order's only
    /// change to the book.
    func updateAvailable(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE books SET available = ? WHERE id = ?").execute(arguments: [available, id])
    }
}
