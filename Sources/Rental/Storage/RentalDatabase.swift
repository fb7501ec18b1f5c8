import GRDB
import ServiceKit

/// Rental's schema: books, rentals, and the Bus's outbox and inbox.
enum RentalDatabase {
    static var migrator: DatabaseMigrator {
        var migrator = ServiceDatabase.migrator()
        migrator.registerMigration("rental-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE books (
                        id TEXT PRIMARY KEY,
                        title TEXT NOT NULL,
                        author TEXT NOT NULL,
                        copies INTEGER NOT NULL CHECK (copies >= 0),
                        available INTEGER NOT NULL CHECK (available >= 0 AND available <= copies),
                        createdAt TEXT NOT NULL
                    );
                    CREATE TABLE rentals (
                        id TEXT PRIMARY KEY,
                        customerId TEXT NOT NULL,
                        bookId TEXT NOT NULL REFERENCES books(id),
                        address TEXT NOT NULL,
                        status TEXT NOT NULL,
                        createdAt TEXT NOT NULL,
                        updatedAt TEXT NOT NULL
                    );
                    CREATE INDEX rentals_customer ON rentals(customerId, createdAt);
                    """)
        }
        // The next schema change is a new migration ("rental-v2") registered here; shipped ones never change.
        return migrator
    }
}
