import Foundation

/// Sliding windows for live recognition; mirrors `mobilevid.data.windows.Windows`.
///
/// A window is `window` sampled frames `stride` camera frames apart (it spans
/// `(window - 1) * stride + 1` frames); one becomes due every `hop` frames once
/// the first is full; the model sees `frames` of its frames, spread as
/// `Sampling` spreads a clip. Integer arithmetic only, checked against
/// tests/app_vectors/windows.json like the Java core.
public struct Windows: Equatable {
    public let frames: Int
    public let window: Int
    public let stride: Int
    public let hop: Int

    public init(frames: Int, window: Int, stride: Int, hop: Int) throws {
        for (name, v) in [("frames", frames), ("window", window), ("stride", stride), ("hop", hop)]
        where v < 1 {
            throw Sampling.Failure.badParameter("\(name) = \(v)")
        }
        guard window >= frames else {
            throw Sampling.Failure.badParameter(
                "a window of \(window) frames is shorter than the model's clip (\(frames))")
        }
        self.frames = frames
        self.window = window
        self.stride = stride
        self.hop = hop
    }

    /// A hop in seconds as camera frames: round half up, at least 1.
    public static func hopFrames(seconds: Double, fps: Double) -> Int {
        max(1, Int((seconds * fps + 0.5).rounded(.down)))
    }

    /// Camera frames from a window's first frame to its last.
    public var span: Int { (window - 1) * stride + 1 }

    /// After `received` frames, the first frame of the window that has just
    /// become complete, or nil when none is due.
    public func due(received: Int) -> Int? {
        guard received >= span, (received - span) % hop == 0 else { return nil }
        return received - span
    }

    /// The `frames` frame numbers the model sees for the window at `start`,
    /// modulo `n` (a video shorter than the span is looped).
    public func indices(start: Int, n: Int) -> [Int] {
        let picks =
            window > frames
            ? (try? Sampling.indices(videoFrames: window, frames: frames)) ?? Array(0..<frames)
            : Array(0..<frames)
        return picks.map { j in Sampling.floorMod(start + j * stride, n) }
    }
}

/// The live camera loop's bookkeeping; mirrors `mobilevid.data.windows.LiveSchedule`.
/// A window is due every hop; it is classified only when no classification is
/// in flight, otherwise dropped (never queued), so the label on screen is never
/// more than one window behind the camera. Thread-safe.
public final class LiveSchedule {
    public enum Action: String { case classify, drop, wait }

    public let windows: Windows
    private let lock = NSLock()
    private var _received = 0
    private var busy = false
    private var _started = 0
    private var _dropped = 0

    public init(windows: Windows) { self.windows = windows }

    /// One camera frame arrived: what to do, and the due window's first frame (-1 if none).
    public func onFrame() -> (action: Action, start: Int) {
        lock.lock()
        defer { lock.unlock() }
        _received += 1
        guard let start = windows.due(received: _received) else { return (.wait, -1) }
        if busy {
            _dropped += 1
            return (.drop, start)
        }
        busy = true
        _started += 1
        return (.classify, start)
    }

    /// A classification returned.
    public func onDone() {
        lock.lock()
        busy = false
        lock.unlock()
    }

    public var received: Int { lock.lock(); defer { lock.unlock() }; return _received }
    public var started: Int { lock.lock(); defer { lock.unlock() }; return _started }
    public var dropped: Int { lock.lock(); defer { lock.unlock() }; return _dropped }
}

/// Mean of the class probabilities of the last `size` windows (1: none);
/// mirrors `mobilevid.data.windows.Smoother`.
public struct Smoother {
    public let size: Int
    private var history: [[Double]] = []

    public init(size: Int) throws {
        guard size >= 1 else { throw Sampling.Failure.badParameter("smoothing = \(size)") }
        self.size = size
    }

    public mutating func add(_ probs: [Double]) throws -> [Double] {
        if let first = history.first, first.count != probs.count {
            throw Sampling.Failure.badParameter("probability vectors of different lengths")
        }
        history.append(probs)
        if history.count > size { history.removeFirst() }
        var out = [Double](repeating: 0, count: probs.count)
        for row in history { for i in out.indices { out[i] += row[i] } }
        return out.map { $0 / Double(history.count) }
    }
}
