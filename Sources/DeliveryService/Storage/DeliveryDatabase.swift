import GRDB
import ServiceKit

/// Delivery's schema: deliveries (one per rental), and the Bus's outbox and inbox.
enum DeliveryDatabase {
    static var migrator: DatabaseMigrator {
        var migrator = ServiceDatabase.migrator()
        migrator.registerMigration("delivery-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE deliveries (
                        id TEXT PRIMARY KEY,
                        rentalId TEXT NOT NULL UNIQUE,
                        customerId TEXT NOT NULL,
                        bookId TEXT NOT NULL,
                        address TEXT NOT NULL,
                        status TEXT NOT NULL,
                        createdAt TEXT NOT NULL,
                        updatedAt TEXT NOT NULL
                    );
                    CREATE INDEX deliveries_created ON deliveries(createdAt);
                    """)
        }
        // The next schema change is a new migration ("delivery-v2") registered here; shipped ones never change.
        return migrator
    }
}
