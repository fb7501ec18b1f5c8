/// Exponential backoff: `initial`, doubled on each attempt, never above `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before attempt number `attempt` (1 is the first retry).
    public func delay(attempt: Int) -> Duration {
        guard attempt > 1 else { return min(initial, maximum) }
        let exponent = min(attempt - 1, 30)
        let scaled = initial * (1 << exponent)
        return min(scaled, maximum)
    }
}
