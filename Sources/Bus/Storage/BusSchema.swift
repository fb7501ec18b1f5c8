import GRDB

/// The Bus's own tables, `outbox` and `inbox`, migrated into each service's database next to the
/// service's tables. A service registers them first in its own migrator.
public enum BusSchema {
    public static func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("bus-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE outbox (
                        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                        stream TEXT NOT NULL,
                        eventId TEXT NOT NULL,
                        type TEXT NOT NULL,
                        key TEXT NOT NULL,
                        occurredAt TEXT NOT NULL,
                        correlationId TEXT NOT NULL,
                        causationId TEXT NOT NULL,
                        data TEXT NOT NULL,
                        claimedBy TEXT,
                        claimedUntil INTEGER,
                        publishedAt INTEGER,
                        publishedTo TEXT
                    );
                    CREATE INDEX outbox_unpublished ON outbox(sequence) WHERE publishedAt IS NULL;
                    CREATE INDEX outbox_published ON outbox(publishedAt) WHERE publishedAt IS NOT NULL;

                    CREATE TABLE inbox (
                        handler TEXT NOT NULL,
                        eventId TEXT NOT NULL,
                        processedAt INTEGER NOT NULL,
                        PRIMARY KEY (handler, eventId)
                    ) WITHOUT ROWID;
                    CREATE INDEX inbox_processed ON inbox(processedAt);
                    """)
        }
        migrator.registerMigration("bus-v2") { db in
            // Published rows are kept (7 days by default) with their entry ids, so that the relay can
            // tell what a Redis that lost data lacks; a row that can never go out is set aside.
            try db.execute(
                sql: """
                    ALTER TABLE outbox DROP COLUMN publishedTo;
                    ALTER TABLE outbox ADD COLUMN publishedId TEXT;
                    ALTER TABLE outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE outbox ADD COLUMN lastError TEXT;
                    ALTER TABLE outbox ADD COLUMN setAsideAt INTEGER;
                    DROP INDEX outbox_unpublished;
                    CREATE INDEX outbox_unpublished ON outbox(sequence) WHERE publishedAt IS NULL AND setAsideAt IS NULL;
                    CREATE INDEX outbox_published_stream ON outbox(stream, sequence) WHERE publishedId IS NOT NULL;
                    """)
        }
        migrator.registerMigration("bus-v3") { db in
            // The request that started the flow (`X-Request-Id`), carried in the envelope.
            try db.execute(sql: "ALTER TABLE outbox ADD COLUMN requestId TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("bus-v4") { db in
            // The trace context of each event's `create` span (``MessageTrace``), captured at commit.
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN traceParent TEXT NOT NULL DEFAULT '';
                    ALTER TABLE outbox ADD COLUMN traceState TEXT NOT NULL DEFAULT '';
                    """)
        }
        migrator.registerMigration("bus-v5") { db in
            // The newest entry of each stream each consuming group applied here (``ConsumerPositions``):
            // where a restored backup left off, so that its service can catch up from the streams.
            try db.execute(
                sql: """
                    CREATE TABLE consumer_positions (
                        handler TEXT NOT NULL,
                        stream TEXT NOT NULL,
                        milliseconds INTEGER NOT NULL,
                        sequence INTEGER NOT NULL,
                        PRIMARY KEY (handler, stream)
                    ) WITHOUT ROWID;
                    CREATE TABLE recovery_baseline (since INTEGER NOT NULL);
                    """)
            // A database that was in use before (its service's own migrations ran already; on a new
            // one they come after these) has no marks yet: its first start takes it as current.
            try db.execute(
                sql: """
                    INSERT INTO recovery_baseline(since) SELECT CAST(strftime('%s', 'now') AS INTEGER)
                    WHERE EXISTS (SELECT 1 FROM grdb_migrations WHERE identifier NOT LIKE 'bus-%')
                    """)
        }
        // The next change to these tables goes into a "bus-v6" migration registered here.
    }
}
