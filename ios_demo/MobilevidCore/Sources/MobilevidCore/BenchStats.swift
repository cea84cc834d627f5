import Foundation

/// Latency statistics, as `mobilevid.bench.stats.summarize` computes them.
public struct BenchStats: Equatable, Sendable, Codable {
    public var n: Int
    public var median: Double
    public var p90: Double  // linear between closest ranks (numpy's default)
    public var min: Double
    public var max: Double
    public var mean: Double
    public var trimmean: Double  // mean of sorted[n/10 ..< 9n/10] (Minibench)
    public var stdev: Double  // sample (n - 1)

    public init?(_ timesMs: [Double]) {
        guard !timesMs.isEmpty else { return nil }
        let xs = timesMs.sorted()
        let n = xs.count
        let m = BenchStats.average(xs)
        let lo = n / 10
        let hi = n * 9 / 10
        var sd = 0.0
        if n > 1 {
            sd = (xs.reduce(0.0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        }
        self.n = n
        self.median = n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2
        self.p90 = BenchStats.percentile(xs, 0.9)
        self.min = xs[0]
        self.max = xs[n - 1]
        self.mean = m
        self.trimmean = lo < hi ? BenchStats.average(Array(xs[lo..<hi])) : m
        self.stdev = sd
    }

    static func average(_ xs: [Double]) -> Double {
        xs.reduce(0, +) / Double(xs.count)
    }

    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let pos = Double(sorted.count - 1) * q
        let lo = Int(pos)
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    /// The values rounded as `Stats.to_json` rounds them (Python's `round(x, 4)`,
    /// correctly rounded from the binary value, which `%.4f` also does).
    public func rounded(places: Int = 4) -> BenchStats {
        var r = self
        let f = { (x: Double) in Double(String(format: "%.\(places)f", x)) ?? x }
        r.median = f(median)
        r.p90 = f(p90)
        r.min = f(min)
        r.max = f(max)
        r.mean = f(mean)
        r.trimmean = f(trimmean)
        r.stdev = f(stdev)
        return r
    }
}
