import Foundation
import Synchronization

/// Rate limits per subject: a token bucket each (`rate` tokens a second, `burst` at most). A
/// subject over its rate is turned away with 429; the others, each with its own bucket, are not
/// slowed: the lock is held for a few arithmetic operations only.
public final class TokenBucketLimiter: Sendable {
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// Whole tokens left after this request.
        public var remaining: Int
        /// Seconds until a token is back (when refused) or until the bucket is full again.
        public var resetSeconds: Int
    }

    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let rate: Double
    public let burst: Int
    /// Buckets of subjects not seen for this long are forgotten (they would be full by then anyway).
    private let forgetAfter: Duration
    private let buckets = Mutex<[String: Bucket]>([:])
    private let maximumSubjects = 100_000

    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = max(1, burst)
        forgetAfter = .seconds(max(1, Int((Double(max(1, burst)) / max(rate, 0.001)).rounded(.up))))
    }

    public func take(_ subject: String, now: ContinuousClock.Instant = .now) -> Decision {
        buckets.withLock { buckets in
            if buckets.count >= maximumSubjects { forgetFull(&buckets, now: now) }
            var bucket = buckets[subject] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = (now - bucket.updated) / .seconds(1)
            bucket.tokens = min(Double(burst), bucket.tokens + max(0, elapsed) * rate)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[subject] = bucket
            let reset = allowed ? (Double(burst) - bucket.tokens) / rate : (1 - bucket.tokens) / rate
            return Decision(allowed: allowed, remaining: Int(bucket.tokens), resetSeconds: max(allowed ? 0 : 1, Int(reset.rounded(.up))))
        }
    }

    /// The policy in the IETF RateLimit headers' words: `burst` requests per window that refills it.
    public var windowSeconds: Int { max(1, Int((Double(burst) / rate).rounded(.up))) }

    private func forgetFull(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        buckets = buckets.filter { now - $0.value.updated < forgetAfter }
    }
}
