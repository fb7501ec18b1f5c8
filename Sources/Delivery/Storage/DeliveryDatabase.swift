import Bus
import GRDB

/// Delivery's schema: deliveries (one per rental), and the Bus's outbox and inbox.
enum DeliveryDatabase {
    static var migrator: DatabaseMigrator {
        BusSchema.migrator(service: "delivery", sql: """
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
}
