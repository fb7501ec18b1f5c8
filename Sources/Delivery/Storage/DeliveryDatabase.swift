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
        // The book's title, as `RentalOrdered` carries it, so that a courier's list needs no trip to
        // the catalogue. Deliveries made before it have none (NULL: shown as unknown); a delivery
        // created by a cancel request that overtook its order learns it with the order.
        migrator.registerMigration("delivery-v2") { db in
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN bookTitle TEXT")
        }
        // The next schema change is a new migration ("delivery-v3") registered here; shipped ones never change.
        return migrator
    }
}
