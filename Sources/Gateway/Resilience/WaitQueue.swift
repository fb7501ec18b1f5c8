/// The requests waiting for a slot of one pool (``ConcurrencyLimiter``), oldest first, and whether
/// they are a burst or a standing queue: the rule of Facebook's "Fail at Scale" server queues,
/// after CoDel. A queue that has been non-empty for ``standingAfter`` stands (the pool is
/// overloaded: few may wait); one that has since been empty that long is a burst's again (many may
/// wait: a short stall of the box or of the instances, or a burst of arrivals, passes through late
/// rather than being turned away).
///
/// Why it stays standing until the queue has been empty a while, not merely empty once: under
/// overload a queue of √limit drains for an instant now and then, and each time the next
/// arrivals counted as a burst: up to the ceiling of them waited 50 ms, and the orders let in
/// under 2× overload had a p99 14–15× the unloaded one against 9–11× before (two benchmark runs
/// each, measured).
struct WaitQueue<Element: Sendable>: Sendable {
    /// Fail at Scale's and CoDel's interval.
    static var standingAfter: Duration { .milliseconds(100) }

    private var elements: [Element] = []
    /// When it last went from empty to not, or back: while it has elements, since when it has; while
    /// it has none, since when it has none.
    private var changedAt: ContinuousClock.Instant
    private(set) var isStanding = false

    init(now: ContinuousClock.Instant) { changedAt = now }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    /// Appends `element` if fewer than `burst` wait (`standing` once the queue stands); false when
    /// it is full.
    mutating func append(_ element: Element, burst: Int, standing: Int, now: ContinuousClock.Instant) -> Bool {
        // Non-empty that long: it stands; empty that long: a burst's again.
        if now - changedAt >= Self.standingAfter { isStanding = !elements.isEmpty }
        guard elements.count < (isStanding ? standing : burst) else { return false }
        if elements.isEmpty { changedAt = now }
        elements.append(element)
        return true
    }

    /// Takes out the oldest.
    mutating func popFirst(now: ContinuousClock.Instant) -> Element? {
        guard !elements.isEmpty else { return nil }
        defer { noteIfEmpty(now) }
        return elements.removeFirst()
    }

    /// Takes out the first that `matches`.
    mutating func remove(now: ContinuousClock.Instant, where matches: (Element) -> Bool) -> Element? {
        guard let index = elements.firstIndex(where: matches) else { return nil }
        defer { noteIfEmpty(now) }
        return elements.remove(at: index)
    }

    private mutating func noteIfEmpty(_ now: ContinuousClock.Instant) {
        if elements.isEmpty { changedAt = now }
    }
}
