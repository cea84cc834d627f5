import CoreML
import Foundation
import MobilevidCore

/// Runs the Core ML model off the main thread: an actor owns the MLModel.
actor Classifier {
    struct Loaded: Sendable {
        var spec: ModelSpec
        var compileMs: Double?
        var loadMs: Double
        var compute: ComputeChoice
    }

    struct Output: Sendable {
        var predictions: [Prediction]
        var inferenceMs: Double
        /// Every class's softmax probability (live mode smooths over windows).
        var probabilities: [Double]
    }

    enum Failure: LocalizedError {
        case notLoaded
        var errorDescription: String? { "no model loaded" }
    }

    private var model: MLModel?
    private var spec: ModelSpec?
    /// .mlpackage -> compiled .mlmodelc, compiled once per launch.
    private var compiledCache: [URL: URL] = [:]

    func load(_ url: URL, compute: ComputeChoice) async throws -> Loaded {
        model = nil
        spec = nil
        var compileMs: Double?
        let compiledURL: URL
        if let cached = compiledCache[url] {
            compiledURL = cached
        } else {
            let compiled = try await CoreMLIO.compiled(url)
            compiledURL = compiled.url
            compileMs = compiled.compileMs
            compiledCache[url] = compiled.url
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let loaded = try MLModel(contentsOf: compiledURL, configuration: compute.configuration())
        let loadMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let s = try ModelSpec(model: loaded)
        model = loaded
        spec = s
        return Loaded(spec: s, compileMs: compileMs, loadMs: loadMs, compute: compute)
    }

    /// Top-5 and the time of `prediction(from:)` alone.
    func classify(_ clip: [Float]) throws -> Output {
        guard let model, let spec else { throw Failure.notLoaded }
        let input = try CoreMLIO.multiArray(clip, shape: spec.inputShape)
        let features = try MLDictionaryFeatureProvider(
            dictionary: [spec.input.name: MLFeatureValue(multiArray: input)])
        let t0 = DispatchTime.now().uptimeNanoseconds
        let result = try model.prediction(from: features)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let logits = try CoreMLIO.floats(result, output: spec.outputName)
        return Output(
            predictions: TopK.predictions(logits, labels: spec.labels, k: 5), inferenceMs: ms,
            probabilities: TopK.softmax(logits))
    }
}
