// Core ML glue shared by the app and the benchmark test. Compiled only where
// Core ML exists (Apple platforms); the rest of the package is plain Foundation
// and builds and tests anywhere Swift runs.
#if canImport(CoreML)
import CoreML
import Foundation

/// The compute units the app offers (`MLModelConfiguration.computeUnits`).
public enum ComputeChoice: String, CaseIterable, Identifiable, Sendable {
    case all
    case cpuAndGPU
    case cpuAndNeuralEngine
    case cpuOnly

    public var id: String { rawValue }

    public var units: MLComputeUnits {
        switch self {
        case .all: return .all
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .cpuOnly: return .cpuOnly
        }
    }

    public var title: String {
        switch self {
        case .all: return "All"
        case .cpuAndGPU: return "CPU+GPU"
        case .cpuAndNeuralEngine: return "CPU+NE"
        case .cpuOnly: return "CPU"
        }
    }

    public func configuration() -> MLModelConfiguration {
        let c = MLModelConfiguration()
        c.computeUnits = units
        return c
    }
}

extension ModelSpec {
    /// The spec of a loaded model: its mobilevid metadata, with the input and
    /// output names checked against the model description.
    public init(model: MLModel) throws {
        let desc = model.modelDescription
        let md = desc.metadata[MLModelMetadataKey.creatorDefinedKey] as? [String: String] ?? [:]
        try self.init(metadata: md)
        let inputs = desc.inputDescriptionsByName
        let outputs = desc.outputDescriptionsByName
        if inputs[input.name] == nil {
            throw ModelSpecError.badValue(
                key: MetadataKey.input,
                reason: "the model has no input \"\(input.name)\" (it has \(inputs.keys.sorted()))")
        }
        if outputs[outputName] == nil {
            throw ModelSpecError.badValue(
                key: MetadataKey.meta,
                reason: "the model has no output \"\(outputName)\" (it has \(outputs.keys.sorted()))")
        }
        if let shape = inputs[input.name]?.multiArrayConstraint?.shape.map({ $0.intValue }),
            shape.count == 5
        {
            input.shape = shape  // what the model really takes
        }
    }
}

public enum CoreMLIO {
    public enum Failure: Error, CustomStringConvertible {
        case sizeMismatch(values: Int, shape: [Int])
        case noOutput(String)

        public var description: String {
            switch self {
            case .sizeMismatch(let n, let shape): return "\(n) values do not fill shape \(shape)"
            case .noOutput(let name): return "the prediction has no multi-array output \"\(name)\""
            }
        }
    }

    /// A float32 MLMultiArray of `shape` (C order) holding `values`.
    public static func multiArray(_ values: [Float], shape: [Int]) throws -> MLMultiArray {
        let count = shape.reduce(1, *)
        guard values.count == count, count > 0 else {
            throw Failure.sizeMismatch(values: values.count, shape: shape)
        }
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) {
            strides[i] = strides[i + 1] * shape[i + 1]
        }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        values.withUnsafeBufferPointer { src in
            buffer.initialize(from: src.baseAddress!, count: count)
        }
        return try MLMultiArray(
            dataPointer: UnsafeMutableRawPointer(buffer),
            shape: shape.map { NSNumber(value: $0) },
            dataType: .float32,
            strides: strides.map { NSNumber(value: $0) },
            deallocator: { pointer in pointer.deallocate() })
    }

    /// Uniform random values in [-1, 1), for benchmarks.
    public static func randomInput(shape: [Int]) throws -> MLMultiArray {
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            values[i] = Float.random(in: -1..<1)
        }
        return try multiArray(values, shape: shape)
    }

    /// All values of `array` in logical (C) order, whatever its strides and
    /// element type (read through the multi-index subscript: outputs are small).
    public static func floats(_ array: MLMultiArray) -> [Float] {
        let shape = array.shape.map { $0.intValue }
        let count = shape.reduce(1, *)
        var out = [Float]()
        out.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            out.append(array[index.map { NSNumber(value: $0) }].floatValue)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// The named output as floats.
    public static func floats(_ features: MLFeatureProvider, output name: String) throws -> [Float] {
        guard let array = features.featureValue(for: name)?.multiArrayValue else {
            throw Failure.noOutput(name)
        }
        return floats(array)
    }

    /// A loadable model URL for `url`: an `.mlmodelc` as it is; an `.mlpackage`
    /// or `.mlmodel` compiled on the device first (returns the compile time).
    public static func compiled(_ url: URL) async throws -> (url: URL, compileMs: Double?) {
        if url.pathExtension == "mlmodelc" {
            return (url, nil)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let out = try await MLModel.compileModel(at: url)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        return (out, ms)
    }
}
#endif
