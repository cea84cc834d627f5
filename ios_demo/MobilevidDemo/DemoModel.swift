import Foundation
import MobilevidCore

/// The app's state; the work happens in `Classifier` (an actor) and
/// `ClipReader` (nonisolated async), never on the main thread.
@MainActor
final class DemoModel: ObservableObject {
    @Published var models: [ModelEntry] = []
    @Published var selected: URL?
    @Published var compute: ComputeChoice = .all
    @Published private(set) var loaded: Classifier.Loaded?
    @Published private(set) var predictions: [Prediction] = []
    @Published private(set) var readMs: Double?
    @Published private(set) var inferenceMs: Double?
    @Published private(set) var repeated: BenchStats?
    @Published private(set) var videoInfo: String?
    @Published private(set) var status = "Pick a model, then a video."
    @Published private(set) var busy = false

    private let classifier = Classifier()
    private var lastClip: [Float]?

    func refreshModels() {
        models = ModelStore.available()
        if selected == nil || !models.contains(where: { $0.url == selected }) {
            selected = models.first?.url
        }
        if models.isEmpty {
            status = "No model: add a .mlpackage to the MobilevidDemo target in Xcode, or tap Add model."
        }
    }

    func loadSelected() async {
        guard let url = selected else { return }
        await run("Loading \(url.lastPathComponent)…") {
            let loaded = try await self.classifier.load(url, compute: self.compute)
            self.loaded = loaded
            self.predictions = []
            self.repeated = nil
            self.lastClip = nil
            self.status = "Loaded \(loaded.spec.model) (\(loaded.compute.title))."
        }
    }

    func importModel(_ url: URL) async {
        do {
            let entry = try ModelStore.importModel(from: url)
            refreshModels()
            selected = entry.url
            await loadSelected()
        } catch {
            status = error.localizedDescription
        }
    }

    func classify(videoAt url: URL) async {
        guard let spec = loaded?.spec else {
            status = "Load a model first."
            return
        }
        await run("Reading \(url.lastPathComponent)…") {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let clip = try await ClipReader.read(url, spec: spec)
            self.readMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            self.videoInfo = "\(clip.videoFrames) frames, sampled \(clip.indices.count)"
            self.lastClip = clip.values
            self.status = "Running \(spec.model)…"
            let out = try await self.classifier.classify(clip.values)
            self.predictions = out.predictions
            self.inferenceMs = out.inferenceMs
            self.repeated = nil
            self.status = "Done."
        }
    }

    /// A live camera session on the loaded model (a label every half second).
    func liveCamera() -> LiveCamera? {
        guard let spec = loaded?.spec else {
            status = "Load a model first."
            return nil
        }
        do {
            return try LiveCamera(spec: spec, classifier: classifier)
        } catch {
            status = "Error: \(error.localizedDescription)"
            return nil
        }
    }

    /// Ten more predictions on the last clip: median and p90 latency.
    func repeatLast(_ runs: Int = 10) async {
        guard let clip = lastClip else { return }
        await run("Timing \(runs) runs…") {
            var times: [Double] = []
            for _ in 0..<runs {
                times.append(try await self.classifier.classify(clip).inferenceMs)
            }
            self.repeated = BenchStats(times)
            self.status = "Done."
        }
    }

    private func run(_ message: String, _ work: @escaping () async throws -> Void) async {
        busy = true
        status = message
        defer { busy = false }
        do {
            try await work()
        } catch {
            status = "Error: \(error.localizedDescription)"
        }
    }
}
