import Bus
import Contracts
import Foundation
import Primitives

/// The Lua script that applies one ``ViewUpdate`` atomically: a status is written only when its
/// rank is higher than the one stored beside it.
enum ViewScript {
    static func command(for update: ViewUpdate) -> [String] {
        let score = Timestamp.date(from: update.occurredAt).map { String(Int64($0.timeIntervalSince1970 * 1000)) } ?? "0"
        return [
            "EVAL", source, "3", RentalViewStore.rentalKey(update.rentalId), RentalViewStore.customerKey(update.customerId),
            Streams.lookupChanges,
            update.rentalId, update.customerId, update.bookId, update.bookTitle,
            update.status?.rawValue ?? "", String(update.status?.rank ?? 0),
            update.deliveryStatus?.rawValue ?? "", String(update.deliveryStatus?.rank ?? 0),
            update.occurredAt, score, update.isOrder ? "1" : "0", String(RentalViewStore.changesLength),
        ]
    }

    /// KEYS: view hash, customer index, changes stream. ARGV: rentalId, customerId, bookId, bookTitle,
    /// status, statusRank, deliveryStatus, deliveryRank, occurredAt, score, isOrder, changes cap.
    static let source = """
        local view = KEYS[1]
        local before = redis.call('HMGET', view, 'statusRank', 'deliveryRank')
        redis.call('HSET', view, 'rentalId', ARGV[1], 'customerId', ARGV[2])
        if ARGV[3] ~= '' then redis.call('HSET', view, 'bookId', ARGV[3]) end
        if ARGV[4] ~= '' then redis.call('HSET', view, 'bookTitle', ARGV[4]) end
        if ARGV[5] ~= '' and tonumber(ARGV[6]) > tonumber(redis.call('HGET', view, 'statusRank') or '0') then
            redis.call('HSET', view, 'status', ARGV[5], 'statusRank', ARGV[6])
        end
        if ARGV[7] ~= '' and tonumber(ARGV[8]) > tonumber(redis.call('HGET', view, 'deliveryRank') or '0') then
            redis.call('HSET', view, 'deliveryStatus', ARGV[7], 'deliveryRank', ARGV[8])
        end
        local updated = redis.call('HGET', view, 'updatedAt')
        if not updated or ARGV[9] > updated then redis.call('HSET', view, 'updatedAt', ARGV[9]) end
        if ARGV[11] == '1' then
            redis.call('ZADD', KEYS[2], ARGV[10], ARGV[1])
        else
            redis.call('ZADD', KEYS[2], 'NX', ARGV[10], ARGV[1])
        end
        local after = redis.call('HMGET', view, 'statusRank', 'deliveryRank')
        if before[1] ~= after[1] or before[2] ~= after[2] then
            redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[12], '*', 'rentalId', ARGV[1], 'customerId', ARGV[2])
        end
        return 1
        """
}
