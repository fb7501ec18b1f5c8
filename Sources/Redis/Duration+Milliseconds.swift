extension Duration {
    /// Whole milliseconds (rounded down), the unit Redis takes for `BLOCK` and idle times.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
