import Foundation

/// Names fixed by the exporter (`mobilevid/export/coreml.py`).
public enum ModelInterface {
    /// The clip, float32 (1, 3, T, H, W).
    public static let inputName = "video"
    /// Class scores, float32 (1, num_classes).
    public static let outputName = "logits"
}

/// The Core ML model's creator-defined metadata keys (all values are strings),
/// mirroring `mobilevid.export.coreml.METADATA_KEYS`.
public enum MetadataKey {
    public static let model = "mobilevid.model"  // model name, e.g. "vmf-560m"
    public static let input = "mobilevid.input"  // JSON: the input spec (InputSpec)
    public static let labels = "mobilevid.labels"  // JSON: array of class names
    public static let meta = "mobilevid.meta"  // JSON: the rest of the sidecar (ModelMeta)
    public static let all = [model, input, labels, meta]
}

/// The model input as the exporter describes it (`meta["input"]`).
public struct InputSpec: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: String?
    public var layout: String?
    public var frames: Int
    public var size: Int
    public var frameStride: Int?
    public var sampling: String?
    public var crop: String?
    public var resize: String?
    public var color: String?
    public var scale: Double?
    public var mean: [Double]
    public var std: [Double]

    enum CodingKeys: String, CodingKey {
        case name, shape, dtype, layout, frames, size
        case frameStride = "frame_stride"
        case sampling, crop, resize, color, scale, mean, std
    }

    public init(
        name: String = ModelInterface.inputName, shape: [Int], frames: Int, size: Int,
        frameStride: Int? = nil, mean: [Double], std: [Double]
    ) {
        self.name = name
        self.shape = shape
        self.frames = frames
        self.size = size
        self.frameStride = frameStride
        self.mean = mean
        self.std = std
    }
}

/// The model output (`meta["output"]`).
public struct OutputSpec: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]?
    public var dtype: String?
}

/// `mobilevid.meta`: the sidecar without labels and input; every field optional
/// so that older or newer exporters still load.
public struct ModelMeta: Codable, Equatable, Sendable {
    public var format: String?
    public var mobilevidVersion: String?
    public var model: String?
    public var family: String?
    public var numClasses: Int?
    public var target: String?
    public var backend: String?
    public var quantize: String?
    public var iosTarget: String?
    public var output: OutputSpec?
    public var params: Int?
    public var gmacs: Double?

    enum CodingKeys: String, CodingKey {
        case format
        case mobilevidVersion = "mobilevid_version"
        case model, family
        case numClasses = "num_classes"
        case target, backend, quantize
        case iosTarget = "ios_target"
        case output, params, gmacs
    }
}

/// The file a sidecar belongs to (`artifact` in the sidecar): its parts, total
/// size and sha256, computed as mobilevid does (for each part: its name, NUL,
/// its size in decimal, NUL, its bytes; a package's parts sorted by path).
public struct ArtifactRecord: Codable, Equatable, Sendable {
    public var files: [String]
    public var bytes: Int
    public var sha256: String
}

public enum SidecarError: Error, Equatable, CustomStringConvertible {
    case unsupported(String)
    case mismatch(sidecar: String, artifact: String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let why): return why
        case .mismatch(let s, let a, let why):
            return "\(s) does not belong to \(a) (\(why)): re-export it"
        }
    }
}

/// The JSON sidecar `mobilevid export` writes beside every artifact
/// (`<artifact>.json`, format `mobilevid-artifact`, schema 2).
public struct ArtifactSidecar: Codable, Equatable, Sendable {
    public static let format = "mobilevid-artifact"
    public static let schemaVersion = 2

    public var format: String
    public var schemaVersion: Int
    public var mobilevidVersion: String?
    public var model: String
    public var numClasses: Int
    public var target: String?
    public var backend: String?
    public var quantize: String?
    public var input: InputSpec
    public var output: OutputSpec
    public var labels: [String]
    public var gmacs: Double?
    public var artifact: ArtifactRecord

    enum CodingKeys: String, CodingKey {
        case format
        case schemaVersion = "schema_version"
        case mobilevidVersion = "mobilevid_version"
        case model
        case numClasses = "num_classes"
        case target, backend, quantize, input, output, labels, gmacs, artifact
    }

    public static func load(from data: Data) throws -> ArtifactSidecar {
        if let raw = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            let fmt = raw["format"] as? String
            if fmt == "mobilevid-artifact/1" {
                throw SidecarError.unsupported(
                    "sidecar written by an older mobilevid (schema 1, no integrity record): re-export")
            }
            if let v = raw["schema_version"] as? Int, v != schemaVersion {
                throw SidecarError.unsupported(
                    "sidecar schema \(v): this app reads \(schemaVersion)"
                        + (v > schemaVersion ? " (update the app)" : " (re-export)"))
            }
        }
        let s = try JSONDecoder().decode(ArtifactSidecar.self, from: data)
        guard s.format == format else {
            throw SidecarError.unsupported("not a \(format) sidecar (format \(s.format))")
        }
        return s
    }
}

public enum ModelSpecError: Error, Equatable, CustomStringConvertible {
    case missingKey(String)
    case badValue(key: String, reason: String)

    public var description: String {
        switch self {
        case .missingKey(let k):
            return "the model has no \(k) metadata: export it with `mobilevid export --target coreml`"
        case .badValue(let k, let reason):
            return "metadata \(k) is not valid: \(reason)"
        }
    }
}

/// Everything the app needs to feed a model and read its output, from the
/// Core ML metadata or from the sidecar.
public struct ModelSpec: Equatable, Sendable {
    public var model: String
    public var input: InputSpec
    public var outputName: String
    public var labels: [String]
    public var numClasses: Int
    public var quantize: String?

    public init(
        model: String, input: InputSpec, outputName: String = ModelInterface.outputName,
        labels: [String], numClasses: Int? = nil, quantize: String? = nil
    ) {
        self.model = model
        self.input = input
        self.outputName = outputName
        self.labels = labels
        self.numClasses = numClasses ?? labels.count
        self.quantize = quantize
    }

    public init(sidecar s: ArtifactSidecar) {
        self.init(
            model: s.model, input: s.input, outputName: s.output.name, labels: s.labels,
            numClasses: s.numClasses, quantize: s.quantize)
    }

    /// From `MLModel.modelDescription.metadata[.creatorDefinedKey] as? [String: String]`.
    public init(metadata md: [String: String]) throws {
        func value(_ key: String) throws -> String {
            guard let v = md[key] else { throw ModelSpecError.missingKey(key) }
            return v
        }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            let text = try value(key)
            do {
                return try JSONDecoder().decode(type, from: Data(text.utf8))
            } catch {
                throw ModelSpecError.badValue(key: key, reason: "\(error)")
            }
        }
        let model = try value(MetadataKey.model)
        let input = try decode(InputSpec.self, MetadataKey.input)
        let labels = try decode([String].self, MetadataKey.labels)
        var meta: ModelMeta?
        if md[MetadataKey.meta] != nil {
            meta = try decode(ModelMeta.self, MetadataKey.meta)
        }
        self.init(
            model: model, input: input,
            outputName: meta?.output?.name ?? ModelInterface.outputName, labels: labels,
            numClasses: meta?.numClasses, quantize: meta?.quantize)
    }

    /// The metadata the exporter writes for this spec (used by the tests, and
    /// handy to check what a model should carry).
    public func metadata() throws -> [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var meta = ModelMeta()
        meta.model = model
        meta.numClasses = numClasses
        meta.quantize = quantize
        meta.output = OutputSpec(name: outputName, shape: [1, numClasses], dtype: "float32")
        let inputJSON = try enc.encode(input)
        let labelsJSON = try enc.encode(labels)
        let metaJSON = try enc.encode(meta)
        return [
            MetadataKey.model: model,
            MetadataKey.input: String(decoding: inputJSON, as: UTF8.self),
            MetadataKey.labels: String(decoding: labelsJSON, as: UTF8.self),
            MetadataKey.meta: String(decoding: metaJSON, as: UTF8.self),
        ]
    }

    /// Frame indices for a video of `videoFrames` frames.
    public func sampleIndices(videoFrames: Int) throws -> [Int] {
        try Sampling.indices(
            videoFrames: videoFrames, frames: input.frames, frameStride: input.frameStride)
    }

    /// Input shape (1, 3, T, S, S) as the spec says.
    public var inputShape: [Int] {
        input.shape.count == 5 ? input.shape : [1, 3, input.frames, input.size, input.size]
    }

    /// Label of class `i`.
    public func label(_ i: Int) -> String {
        i >= 0 && i < labels.count ? labels[i] : "class \(i)"
    }
}
