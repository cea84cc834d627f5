import AVFoundation
import CoreVideo
import Foundation
import MobilevidCore

/// One preprocessed clip from a video file, as `mobilevid.data.video.load_clip`
/// makes it: count the frames, sample the indices from the model's metadata,
/// decode sequentially keeping only the sampled frames (each cropped and
/// resized at once, so memory is O(frames x size^2)), normalise to (3, T, S, S).
enum ClipReader {
    enum Failure: LocalizedError {
        case noVideoTrack
        case noFrames
        case reader(String)

        var errorDescription: String? {
            switch self {
            case .noVideoTrack: return "the file has no video track"
            case .noFrames: return "no decodable frames (corrupt or empty video)"
            case .reader(let why): return "cannot read the video: \(why)"
            }
        }
    }

    struct Clip {
        var values: [Float]  // (3, T, S, S)
        var videoFrames: Int
        var indices: [Int]
    }

    static func read(_ url: URL, spec: ModelSpec) async throws -> Clip {
        let asset = AVURLAsset(url: url)
        guard let track = try await asset.loadTracks(withMediaType: .video).first else {
            throw Failure.noVideoTrack
        }
        let transform = try await track.load(.preferredTransform)
        let turns = quarterTurns(transform)
        var n = try countSamples(asset, track)
        for _ in 0..<2 {
            guard n > 0 else { throw Failure.noFrames }
            let indices = try spec.sampleIndices(videoFrames: n)
            let (frames, decoded) = try decode(
                asset, track, indices: indices, size: spec.input.size, quarterTurns: turns)
            let resized = indices.compactMap { frames[$0] }
            if resized.count == indices.count {
                let values = Preprocess.normalize(
                    resized: resized, size: spec.input.size, mean: spec.input.mean,
                    std: spec.input.std)
                return Clip(values: values, videoFrames: n, indices: indices)
            }
            n = decoded  // fewer decodable frames than the container said: sample again
        }
        throw Failure.noFrames
    }

    /// Rotation a player applies (`preferredTransform`), in clockwise quarter turns.
    static func quarterTurns(_ t: CGAffineTransform) -> Int {
        let q = Int((atan2(Double(t.b), Double(t.a)) / (Double.pi / 2)).rounded())
        return ((q % 4) + 4) % 4
    }

    /// Frame count without decoding (compressed samples).
    private static func countSamples(_ asset: AVAsset, _ track: AVAssetTrack) throws -> Int {
        let reader = try AVAssetReader(asset: asset)
        let output = AVAssetReaderTrackOutput(track: track, outputSettings: nil)
        output.alwaysCopiesSampleData = false
        guard reader.canAdd(output) else { throw Failure.reader("cannot add the track output") }
        reader.add(output)
        guard reader.startReading() else {
            throw Failure.reader(reader.error?.localizedDescription ?? "startReading failed")
        }
        var n = 0
        while let buffer = output.copyNextSampleBuffer() {
            n += CMSampleBufferGetNumSamples(buffer)
        }
        if reader.status == .failed {
            throw Failure.reader(reader.error?.localizedDescription ?? "read failed")
        }
        return n
    }

    /// Decodes in order up to the last wanted index; returns the resized frames
    /// by index and how many frames were decoded.
    private static func decode(
        _ asset: AVAsset, _ track: AVAssetTrack, indices: [Int], size: Int, quarterTurns: Int
    ) throws -> ([Int: [Float]], Int) {
        let reader = try AVAssetReader(asset: asset)
        let settings: [String: Any] = [
            kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA
        ]
        let output = AVAssetReaderTrackOutput(track: track, outputSettings: settings)
        output.alwaysCopiesSampleData = false
        guard reader.canAdd(output) else { throw Failure.reader("cannot add the track output") }
        reader.add(output)
        guard reader.startReading() else {
            throw Failure.reader(reader.error?.localizedDescription ?? "startReading failed")
        }
        defer { reader.cancelReading() }
        let wanted = Set(indices)
        let last = indices.max() ?? 0
        var frames: [Int: [Float]] = [:]
        var i = 0
        while i <= last, let buffer = output.copyNextSampleBuffer() {
            guard let pixels = CMSampleBufferGetImageBuffer(buffer) else { continue }
            if wanted.contains(i) {
                frames[i] = try resize(pixels, size: size, quarterTurns: quarterTurns)
            }
            i += 1
        }
        if reader.status == .failed {
            throw Failure.reader(reader.error?.localizedDescription ?? "decode failed")
        }
        return (frames, i)
    }

    private static func resize(_ pixels: CVPixelBuffer, size: Int, quarterTurns: Int) throws -> [Float] {
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        guard CVPixelBufferGetPixelFormatType(pixels) == kCVPixelFormatType_32BGRA,
            let base = CVPixelBufferGetBaseAddress(pixels)
        else { throw Failure.reader("the decoder did not return BGRA pixels") }
        let view = FrameView(
            base: UnsafePointer(base.assumingMemoryBound(to: UInt8.self)),
            width: CVPixelBufferGetWidth(pixels), height: CVPixelBufferGetHeight(pixels),
            bytesPerRow: CVPixelBufferGetBytesPerRow(pixels), layout: .bgra,
            quarterTurns: quarterTurns)
        var out: [Float] = []
        Preprocess.cropResize(view, size: size, into: &out)
        return out
    }
}
