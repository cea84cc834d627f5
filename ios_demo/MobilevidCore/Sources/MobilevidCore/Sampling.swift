import Foundation

/// Which frames of a video make one clip; mirrors `mobilevid.data.video.sample_indices`.
public enum Sampling {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noFrames
        case badParameter(String)

        public var description: String {
            switch self {
            case .noFrames: return "video has no frames"
            case .badParameter(let what): return "invalid sampling parameter: \(what)"
            }
        }
    }

    /// Frame indices for one clip from a video of `videoFrames` frames.
    ///
    /// - Without `frameStride`: the centre of each of `frames` equal segments,
    ///   `((2 i + 1) n) / (2 frames)` in integer arithmetic.
    /// - With `frameStride`: `frames` indices `frameStride` apart starting at
    ///   `start` (default `max(0, (n - span) / 2)`), looped modulo `n`.
    public static func indices(
        videoFrames n: Int, frames: Int, frameStride: Int? = nil, start: Int? = nil
    ) throws -> [Int] {
        guard n >= 1 else { throw Failure.noFrames }
        guard frames >= 1 else { throw Failure.badParameter("frames = \(frames)") }
        guard let stride = frameStride else {
            return (0..<frames).map { i in ((2 * i + 1) * n) / (2 * frames) }
        }
        guard stride >= 1 else { throw Failure.badParameter("frame_stride = \(stride)") }
        let span = frames * stride
        let first = start ?? max(0, (n - span) / 2)
        return (0..<frames).map { i in floorMod(first + i * stride, n) }
    }

    /// Python's `%` (the result has the sign of the divisor).
    static func floorMod(_ a: Int, _ n: Int) -> Int {
        let r = a % n
        return r < 0 ? r + n : r
    }
}
