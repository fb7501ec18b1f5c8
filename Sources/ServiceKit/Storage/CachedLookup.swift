import GRDB

extension FetchableRecord where Self: TableRecord {
    /// The first row whose `column` equals `value`, through a statement SQLite compiles once per
    /// connection. The query interface (`fetchOne(db, key:)`, `filter(…).fetchOne(db)`) builds and
    /// compiles its SQL on every call: in a profile of Delivery under load that was a fifth of the
    /// time spent applying an event. For the lookups on the hot paths; the rest keep the query interface.
    public static func fetchOne(_ db: Database, where column: Column, is value: some DatabaseValueConvertible) throws -> Self? {
        let sql = "SELECT * FROM \(databaseTableName.quotedDatabaseIdentifier) WHERE \(column.name.quotedDatabaseIdentifier) = ? LIMIT 1"
        return try fetchOne(db.cachedStatement(sql: sql), arguments: [value])
    }
}
