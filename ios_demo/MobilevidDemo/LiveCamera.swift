import AVFoundation
import Foundation
import MobilevidCore
import SwiftUI

/// Live recognition on the back camera: a rolling buffer holds the last
/// window's span of frames, already cropped and resized (one (S, S, 3) slot per
/// frame, so memory does not grow with the session); every hop the newest
/// window is classified by the `Classifier` actor, never more than one at a
/// time: a window that comes due while one is in flight is dropped, not queued
/// (`LiveSchedule`), so the label follows the camera. The window arithmetic and
/// the smoothing are MobilevidCore's, checked against the Python reference
/// (`mobilevid predict --over-time` follows the same rules on a file).
final class LiveCamera: NSObject, ObservableObject, @unchecked Sendable {
    struct Update: Sendable {
        var label: String
        var score: Double
        var inferenceMs: Double
        var windowSeconds: Double
        var classified: Int
        var dropped: Int
    }

    @MainActor @Published private(set) var update: Update?
    @MainActor @Published private(set) var error: String?

    let session = AVCaptureSession()
    let windows: Windows
    private let spec: ModelSpec
    private let classifier: Classifier
    private let schedule: LiveSchedule
    private var smoother: Smoother  // touched only in `classify`, one at a time
    private var ring: [[Float]]  // touched only on `frames`
    private let fps: Double
    private let output = AVCaptureVideoDataOutput()
    private let frames = DispatchQueue(label: "org.mobilevid.demo.live")

    /// - Parameters:
    ///   - hopSeconds: time between two classifications, as frames at `fps`.
    ///   - fps: the capture rate (the session's default is about 30).
    ///   - smooth: windows whose probabilities are averaged for the label shown.
    init(spec: ModelSpec, classifier: Classifier, hopSeconds: Double = 0.5, fps: Double = 30, smooth: Int = 3) throws {
        self.spec = spec
        self.classifier = classifier
        self.fps = fps
        windows = try Windows(
            frames: spec.input.frames, window: spec.input.frames, stride: spec.input.frameStride ?? 1,
            hop: Windows.hopFrames(seconds: hopSeconds, fps: fps))
        schedule = LiveSchedule(windows: windows)
        smoother = try Smoother(size: smooth)
        ring = Array(repeating: [], count: windows.span)
        super.init()
    }

    func start() async {
        guard await AVCaptureDevice.requestAccess(for: .video) else {
            await MainActor.run { error = "camera access is off: allow it in Settings > Privacy > Camera" }
            return
        }
        guard let camera = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
            let input = try? AVCaptureDeviceInput(device: camera)
        else {
            await MainActor.run { error = "no back camera" }
            return
        }
        session.beginConfiguration()
        session.sessionPreset = .vga640x480
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true  // a slow frame is dropped, never queued
        output.setSampleBufferDelegate(self, queue: frames)
        if session.canAddInput(input) { session.addInput(input) }
        if session.canAddOutput(output) { session.addOutput(output) }
        session.commitConfiguration()
        frames.async { [session] in session.startRunning() }
    }

    func stop() {
        frames.async { [session] in session.stopRunning() }
    }

    /// On `frames`: the frame's ring slot, then maybe a classification.
    private func onFrame(_ pixels: CVPixelBuffer) {
        let size = spec.input.size
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(pixels) else { return }
        let view = FrameView(
            base: UnsafePointer(base.assumingMemoryBound(to: UInt8.self)),
            width: CVPixelBufferGetWidth(pixels), height: CVPixelBufferGetHeight(pixels),
            bytesPerRow: CVPixelBufferGetBytesPerRow(pixels), layout: .bgra,
            quarterTurns: 1)  // the back camera's buffers are landscape; the phone is held upright
        var slot: [Float] = []
        Preprocess.cropResize(view, size: size, into: &slot)
        ring[schedule.received % ring.count] = slot
        let step = schedule.onFrame()
        guard step.action == .classify else { return }
        let picked = windows.indices(start: step.start, n: schedule.received).map { ring[$0 % ring.count] }
        let clip = Preprocess.normalize(resized: picked, size: size, mean: spec.input.mean, std: spec.input.std)
        Task { await self.classify(clip) }
    }

    private func classify(_ clip: [Float]) async {
        defer { schedule.onDone() }
        do {
            let out = try await classifier.classify(clip)
            let probs = try smoother.add(out.probabilities)
            var best = 0  // the first of equal maxima, as TopK orders ties
            for i in probs.indices where probs[i] > probs[best] { best = i }
            let u = Update(
                label: best < spec.labels.count ? spec.labels[best] : "class \(best)",
                score: probs[best], inferenceMs: out.inferenceMs,
                windowSeconds: Double(windows.span) / fps, classified: schedule.started,
                dropped: schedule.dropped)
            await MainActor.run { self.update = u }
        } catch {
            let text = error.localizedDescription
            await MainActor.run { self.error = text }
        }
    }
}

extension LiveCamera: AVCaptureVideoDataOutputSampleBufferDelegate {
    func captureOutput(
        _ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection
    ) {
        guard let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        onFrame(pixels)
    }
}

/// The live screen: the camera, the current label with its score, the
/// measured latency, and how many windows were classified and dropped.
struct LiveView: View {
    @ObservedObject var camera: LiveCamera
    @Environment(\.dismiss) private var dismiss

    var body: some View {
        NavigationStack {
            VStack(spacing: 12) {
                CameraPreview(session: camera.session)
                    .aspectRatio(3.0 / 4.0, contentMode: .fit)
                    .clipShape(RoundedRectangle(cornerRadius: 12))
                if let u = camera.update {
                    Text("\(u.label)  \(Int((100 * u.score).rounded()))%")
                        .font(.title2.bold())
                    Text(
                        String(
                            format: "%.1f ms per window (%.2f s of video); classified %d, dropped %d",
                            u.inferenceMs, u.windowSeconds, u.classified, u.dropped)
                    )
                    .font(.footnote.monospacedDigit()).foregroundStyle(.secondary)
                } else {
                    Text("Filling the first window…").foregroundStyle(.secondary)
                }
                if let error = camera.error {
                    Text(error).font(.footnote).foregroundStyle(.red)
                }
                Spacer()
            }
            .padding()
            .navigationTitle("Live")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Done") { dismiss() }
                }
            }
            .task { await camera.start() }
            .onDisappear { camera.stop() }
        }
    }
}
