import Foundation

/// How the bytes of one pixel are laid out in a frame buffer.
public struct PixelLayout: Equatable, Sendable {
    public var bytesPerPixel: Int
    public var red: Int
    public var green: Int
    public var blue: Int

    public init(bytesPerPixel: Int, red: Int, green: Int, blue: Int) {
        self.bytesPerPixel = bytesPerPixel
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// Packed RGB, 3 bytes (the test vectors, numpy's (H, W, 3)).
    public static let rgb = PixelLayout(bytesPerPixel: 3, red: 0, green: 1, blue: 2)
    /// `kCVPixelFormatType_32BGRA`, what AVFoundation decodes to.
    public static let bgra = PixelLayout(bytesPerPixel: 4, red: 2, green: 1, blue: 0)
}

/// A read-only view of one decoded frame: 8-bit pixels, rows `bytesPerRow`
/// apart, shown after `quarterTurns` clockwise quarter turns (a video track's
/// `preferredTransform`; OpenCV applies it too when decoding).
///
/// The pointer must stay valid while the view is used (inside
/// `CVPixelBufferLockBaseAddress` / `withUnsafeBufferPointer`).
public struct FrameView {
    public let base: UnsafePointer<UInt8>
    public let width: Int  // as stored
    public let height: Int  // as stored
    public let bytesPerRow: Int
    public let layout: PixelLayout
    public let quarterTurns: Int  // 0...3, clockwise

    public init(
        base: UnsafePointer<UInt8>, width: Int, height: Int, bytesPerRow: Int,
        layout: PixelLayout, quarterTurns: Int = 0
    ) {
        self.base = base
        self.width = width
        self.height = height
        self.bytesPerRow = bytesPerRow
        self.layout = layout
        self.quarterTurns = ((quarterTurns % 4) + 4) % 4
    }

    /// Width and height as displayed (after the rotation).
    public var displayWidth: Int { quarterTurns % 2 == 0 ? width : height }
    public var displayHeight: Int { quarterTurns % 2 == 0 ? height : width }

    /// Byte offset of displayed pixel (x, y).
    @inline(__always)
    func offset(_ x: Int, _ y: Int) -> Int {
        let sx: Int
        let sy: Int
        switch quarterTurns {
        case 1: sx = y; sy = height - 1 - x
        case 2: sx = width - 1 - x; sy = height - 1 - y
        case 3: sx = width - 1 - y; sy = x
        default: sx = x; sy = y
        }
        return sy * bytesPerRow + sx * layout.bytesPerPixel
    }
}

/// mobilevid's preprocessing (`mobilevid.data.video.preprocess_frames`):
/// central square crop, bilinear resize with half-pixel centres on float RGB in
/// [0, 255] exactly as OpenCV's `cv2.resize(..., INTER_LINEAR)` computes it on
/// float32, then x / 255 and (x - mean) / std, laid out (3, T, S, S).
public enum Preprocess {
    /// One source tap of the separable bilinear filter.
    struct Tap {
        var i0: Int
        var i1: Int
        var w0: Float
        var w1: Float
    }

    /// OpenCV's horizontal coefficients (`resize.cpp`, INTER_LINEAR):
    /// fx = (float)((dx + 0.5) * scale - 0.5), sx = floor(fx), fx -= sx; a tap
    /// left of the image becomes (0, weight 1) and one at or right of the last
    /// column becomes (last, weight 1).
    static func columnTaps(source n: Int, destination d: Int) -> [Tap] {
        let scale = 1.0 / (Double(d) / Double(n))  // OpenCV: scale_x = 1. / inv_scale_x
        return (0..<d).map { dx in
            var f = Float((Double(dx) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if s < 0 { f = 0; s = 0 }
            if s >= n - 1 { f = 0; s = n - 1 }
            return Tap(i0: s, i1: min(s + 1, n - 1), w0: 1 - f, w1: f)
        }
    }

    /// OpenCV's vertical coefficients: same fy, but rows are clamped to the
    /// image and the weights are kept (row -1 and row 0 both read row 0).
    static func rowTaps(source n: Int, destination d: Int) -> [Tap] {
        let scale = 1.0 / (Double(d) / Double(n))
        return (0..<d).map { dy in
            var f = Float((Double(dy) + 0.5) * scale - 0.5)
            let s = Int(f.rounded(.down))
            f -= Float(s)
            let clamp = { (i: Int) in min(max(i, 0), n - 1) }
            return Tap(i0: clamp(s), i1: clamp(s + 1), w0: 1 - f, w1: f)
        }
    }

    /// Central square of `frame`, resized to `size` x `size`: float RGB in
    /// [0, 255], interleaved (size, size, 3), appended to `out`.
    public static func cropResize(_ frame: FrameView, size: Int, into out: inout [Float]) {
        precondition(size >= 1, "size must be positive")
        let w = frame.displayWidth
        let h = frame.displayHeight
        let side = min(w, h)
        precondition(side >= 1, "empty frame")
        let x0 = (w - side) / 2
        let y0 = (h - side) / 2
        let cols = columnTaps(source: side, destination: size)
        let rows = rowTaps(source: side, destination: size)
        let base = frame.base
        let r = frame.layout.red
        let g = frame.layout.green
        let b = frame.layout.blue
        // horizontal pass on every source row of the crop (as OpenCV does)
        var horiz = [Float](repeating: 0, count: side * size * 3)
        for y in 0..<side {
            for (dx, t) in cols.enumerated() {
                let p0 = frame.offset(x0 + t.i0, y0 + y)
                let p1 = frame.offset(x0 + t.i1, y0 + y)
                let o = (y * size + dx) * 3
                horiz[o] = Float(base[p0 + r]) * t.w0 + Float(base[p1 + r]) * t.w1
                horiz[o + 1] = Float(base[p0 + g]) * t.w0 + Float(base[p1 + g]) * t.w1
                horiz[o + 2] = Float(base[p0 + b]) * t.w0 + Float(base[p1 + b]) * t.w1
            }
        }
        // vertical pass
        out.reserveCapacity(out.count + size * size * 3)
        for t in rows {
            let a = t.i0 * size * 3
            let c = t.i1 * size * 3
            for k in 0..<(size * 3) {
                out.append(horiz[a + k] * t.w0 + horiz[c + k] * t.w1)
            }
        }
    }

    /// Resized frames (each interleaved (S, S, 3) in [0, 255]) to the model
    /// input (3, T, S, S): x / 255, then (x - mean) / std per channel.
    public static func normalize(
        resized frames: [[Float]], size: Int, mean: [Double], std: [Double]
    ) -> [Float] {
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values")
        let t = frames.count
        let plane = size * size
        var out = [Float](repeating: 0, count: 3 * t * plane)
        for c in 0..<3 {
            let m = Float(mean[c])
            let s = Float(std[c])
            for (k, frame) in frames.enumerated() {
                precondition(frame.count == plane * 3, "frame \(k) is not \(size)x\(size)x3")
                let dst = (c * t + k) * plane
                for i in 0..<plane {
                    out[dst + i] = (frame[i * 3 + c] / 255 - m) / s
                }
            }
        }
        return out
    }

    /// The whole reference on packed RGB bytes (T, H, W, 3), row-major, as in
    /// the test vectors: returns (3, T, size, size).
    public static func clip(
        rgb: [UInt8], frames t: Int, height h: Int, width w: Int,
        size: Int, mean: [Double], std: [Double]
    ) -> [Float] {
        precondition(rgb.count == t * h * w * 3, "rgb has \(rgb.count) bytes, expected \(t * h * w * 3)")
        let resized: [[Float]] = rgb.withUnsafeBufferPointer { buf in
            (0..<t).map { k in
                let view = FrameView(
                    base: buf.baseAddress! + k * h * w * 3, width: w, height: h,
                    bytesPerRow: w * 3, layout: .rgb)
                var one: [Float] = []
                cropResize(view, size: size, into: &one)
                return one
            }
        }
        return normalize(resized: resized, size: size, mean: mean, std: std)
    }
}
