/// How many requests a pool may have in flight, learnt from the latency its instances answer with:
/// the rule of Netflix's Gradient2 (concurrency-limits) against a no-load latency measured the way
/// Envoy's adaptive concurrency filter does.
///
/// At the end of each window of answers (``Window``), with `short` the window's mean latency and
/// `noLoad` the no-load latency:
///
///     gradient = clamp(tolerance × noLoad / short, 0.5, 1)
///     limit    = (1 − smoothing) × limit + smoothing × (limit × gradient + √limit)
///
/// While answers come within `tolerance` × the no-load latency the limit grows by √limit a window
/// (smoothed), up to the ceiling (`--max-concurrent`); as soon as requests queue in the instances,
/// latency rises and the limit falls, by at most half a window (smoothed: a tenth), to the floor.
/// It settles where the latency is about (tolerance + √limit / capacity) × the no-load one. A
/// window that used less than half of the limit changes nothing (Gradient2's "application
/// limited"): the latency of a pool that is not pushed says nothing about how much it can take.
///
/// The no-load latency is measured, as Envoy does: when the pool is first pushed (half its limit in
/// flight) and every `probeInterval` after, while it is, the limit drops to the floor for one window, whose mean (of the requests let in during
/// it) is the no-load latency until the next probe; then the limit is what it was. Nothing is
/// learnt before the first probe. Why measured, and not the lowest window mean seen or Gradient2's
/// long-term average: on a box whose cores the services share, latency moves with the other
/// processes' work far more than with this pool's queue. A lowest window is a lucky one (against
/// it, the normal latency at a moderate rate looked like a queue, and the limit fell to the floor
/// at half the saturation rate: measured); an average follows a sustained overload up within 600
/// answers and then lets the queue it measures become the norm. The probe measures the latency
/// with almost no queue under the box's load now, for the price of one window at the floor every
/// half minute. Rejected: a fixed limit (tuned by hand per box and load: a limit of 2 measured a
/// 7× worse admitted p99, another cut Rental's throughput to a fifth); AIMD on errors (it acts
/// once timeouts happen, long after the latency).
///
/// A probe is only as good as the moment it falls in. One taken while 60 closed-loop clients sent
/// again the moment they got a 503 measured 27–32 ms for a 2 ms no-load latency (the cores were
/// busy with the 503s its own floor caused), and the limit then sat at its ceiling through 2× and
/// 10× overload. So a probe over `implausibleRise` × the figure it would replace is refused and
/// tried again after `recheck`; the third in a row is taken (the box itself became slower, and a
/// limit learnt against the old figure would sit at the floor). And a window quicker than the
/// no-load latency ÷ `tolerance` shows that figure is stale: the next probe comes `recheck` after
/// it. Rejected: the lowest probe ever (never rises when the box slows down for good); a
/// probe's quickest answer instead of its mean (one lucky answer).
struct AdaptiveLimit: Sendable {
    struct Settings: Sendable {
        /// The most requests in flight, whatever the latency (`--max-concurrent`).
        var ceiling: Int
        /// The fewest, also the probe's limit: below a few in flight, group commit has nothing to group.
        var floor: Int = 4
        /// Latency up to this multiple of the no-load one counts as no queueing.
        var tolerance: Double = 1.5
        var smoothing: Double = 0.2
        var probeInterval: Duration = .seconds(30)
        /// A probe that measured over this multiple of the no-load latency it would replace is
        /// refused, up to ``refusalsInARow`` times in a row; and how soon a refused one is tried again.
        var implausibleRise: Double = 3
        var refusalsInARow = 2
        var recheck: Duration = .seconds(5)
    }

    let settings: Settings
    private(set) var limit: Double
    /// Seconds: the last probe's mean.
    private(set) var noLoadLatency: Double?
    /// When the probe under way began; nil between probes.
    private(set) var probeStarted: ContinuousClock.Instant?
    private(set) var nextProbe: ContinuousClock.Instant
    /// Probes refused since the last one taken.
    private(set) var refusedInARow = 0
    /// Every probe that ended, taken or refused (`gateway_limit_probes_total`).
    private(set) var probesTaken = 0
    private(set) var probesRefused = 0

    init(settings: Settings, now: ContinuousClock.Instant = .now) {
        var settings = settings
        settings.ceiling = max(1, settings.ceiling)
        settings.floor = max(1, min(settings.floor, settings.ceiling))
        self.settings = settings
        limit = Double(settings.ceiling)
        nextProbe = now
    }

    /// The whole requests the limit allows now.
    var allowed: Int { probeStarted == nil ? max(settings.floor, min(settings.ceiling, Int(limit))) : settings.floor }

    /// Learns from a window that ended `now`: `meanLatency` in seconds, `peakInFlight` the most in
    /// flight during it. Returns true when a probe begins (the caller starts a new window).
    mutating func update(meanLatency: Double, peakInFlight: Int, now: ContinuousClock.Instant) -> Bool {
        guard meanLatency > 0, meanLatency.isFinite else { return false }
        if probeStarted != nil {
            probeStarted = nil
            if let noLoad = noLoadLatency, meanLatency > settings.implausibleRise * noLoad, refusedInARow < settings.refusalsInARow {
                refusedInARow += 1
                probesRefused += 1
                nextProbe = now + settings.recheck
            } else {
                (noLoadLatency, refusedInARow) = (meanLatency, 0)
                probesTaken += 1
                nextProbe = now + settings.probeInterval
            }
            return false
        }
        // A window clearly quicker than the no-load latency shows that figure was taken at a bad
        // moment: probe again soon rather than learn against it for the rest of the interval.
        if let noLoad = noLoadLatency, meanLatency * settings.tolerance < noLoad {
            nextProbe = min(nextProbe, now + settings.recheck)
        }
        if let noLoad = noLoadLatency, Double(peakInFlight) >= limit / 2 {
            let gradient = max(0.5, min(1, settings.tolerance * noLoad / meanLatency))
            let target = limit * gradient + limit.squareRoot()
            limit = (1 - settings.smoothing) * limit + settings.smoothing * target
            limit = max(Double(settings.floor), min(Double(settings.ceiling), limit))
        }
        // Only a pool pushed to half its limit learns, so only such a pool is probed: a probe of
        // one that is not would turn requests away for nothing.
        guard now >= nextProbe, settings.floor < settings.ceiling, Double(peakInFlight) >= limit / 2 else { return false }
        probeStarted = now
        return true
    }
}

/// The answers of one window: its mean latency once it has enough of them and lasted long enough.
struct Window: Sendable {
    static let minimumSamples = 10
    static let minimumLength: Duration = .milliseconds(100)

    private var start: ContinuousClock.Instant
    private var total: Double = 0
    private var count = 0
    private(set) var peakInFlight = 0

    init(start: ContinuousClock.Instant) { self.start = start }

    mutating func sawInFlight(_ inFlight: Int) { peakInFlight = max(peakInFlight, inFlight) }

    /// Adds an answer's latency; at a window's end, the window's mean and peak, and a new window.
    mutating func add(_ latency: Duration, at now: ContinuousClock.Instant, inFlight: Int) -> (mean: Double, peak: Int)? {
        total += latency / .seconds(1)
        count += 1
        sawInFlight(inFlight)
        guard count >= Self.minimumSamples, now - start >= Self.minimumLength else { return nil }
        let ended = (total / Double(count), peakInFlight)
        self = Window(start: now)
        peakInFlight = inFlight
        return ended
    }
}
