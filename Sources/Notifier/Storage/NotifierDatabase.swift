import GRDB
import ServiceKit

/// Notifier's schema: alerts, and the Bus's outbox and inbox (the inbox is what it uses).
enum NotifierDatabase {
    static var migrator: DatabaseMigrator {
        var migrator = ServiceDatabase.migrator()
        migrator.registerMigration("notifier-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE alerts (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        eventId TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,
                        customerId TEXT,
                        rentalId TEXT,
                        message TEXT NOT NULL,
                        createdAt TEXT NOT NULL
                    );
                    CREATE INDEX alerts_customer ON alerts(customerId, id);
                    """)
        }
        // The next schema change is a new migration ("notifier-v2") registered here; shipped ones never change.
        return migrator
    }
}
