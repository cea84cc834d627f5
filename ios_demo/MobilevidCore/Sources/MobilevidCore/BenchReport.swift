import Foundation

/// What the benchmark test prints for `mobilevid bench --device iphone...`
/// (`mobilevid/bench/ios.py` parses it): one line per model,
/// `MOBILEVID_BENCH {json}`, the JSON in the `mobilevid-device-bench/1` format
/// the Android path writes, plus ExecuTorch benchmark metric records.
public enum BenchProtocol {
    /// Prefix of the result line (`mobilevid.bench.ios.MARK`).
    public static let marker = "MOBILEVID_BENCH "
    public static let format = "mobilevid-device-bench/1"
    public static let backend = "coreml"
    /// ExecuTorch benchmark metric names (Minibench, the ExecuTorch dashboard).
    public static let avgLatency = "avg_inference_latency(ms)"
    public static let trimmeanLatency = "trimmean_inference_latency(ms)"
    public static let loadTime = "model_load_time(ms)"

    /// (model, quantization) from an artifact stem `<model>_coreml_<quant>`.
    public static func artifactParts(stem: String) -> (model: String, quantization: String) {
        let tag = "_\(backend)_"
        guard let r = stem.range(of: tag, options: .backwards) else {
            return (stem, "unknown")
        }
        let model = String(stem[..<r.lowerBound])
        let quant = String(stem[r.upperBound...])
        return (model.isEmpty ? stem : model, quant.isEmpty ? "unknown" : quant)
    }
}

/// ExecuTorch's `deviceInfo`.
public struct BenchDeviceInfo: Codable, Equatable, Sendable {
    public var device: String  // "Apple"
    public var arch: String  // hardware model, e.g. "iPhone15,4"
    public var os: String  // "iOS 17.5"
    public var totalMem: UInt64
    public var availMem: UInt64

    public init(device: String, arch: String, os: String, totalMem: UInt64, availMem: UInt64) {
        self.device = device
        self.arch = arch
        self.os = os
        self.totalMem = totalMem
        self.availMem = availMem
    }
}

/// ExecuTorch's `benchmarkModel`.
public struct BenchModelInfo: Codable, Equatable, Sendable {
    public var name: String
    public var backend: String
    public var quantization: String
}

/// One ExecuTorch benchmark record.
public struct BenchMetric: Codable, Equatable, Sendable {
    public var benchmarkModel: BenchModelInfo
    public var metric: String
    public var actualValue: Double
    public var targetValue: Double
    public var deviceInfo: BenchDeviceInfo
}

/// One model's result: the `mobilevid-device-bench/1` JSON.
public struct DeviceBenchResult: Encodable, Sendable {
    public var model: String  // artifact stem, e.g. "vmf-560m_coreml_fp16"
    public var warmup: Int
    public var runs: Int
    public var modelLoadTimeMs: Double?  // compile (if needed) + load
    public var compileTimeMs: Double?  // the compile part (.mlpackage -> .mlmodelc)
    public var timesMs: [Double]
    public var error: String?
    public var computeUnits: String
    public var device: BenchDeviceInfo

    public init(
        model: String, warmup: Int, runs: Int, modelLoadTimeMs: Double?, compileTimeMs: Double?,
        timesMs: [Double], error: String?, computeUnits: String, device: BenchDeviceInfo
    ) {
        self.model = model
        self.warmup = warmup
        self.runs = runs
        self.modelLoadTimeMs = modelLoadTimeMs
        self.compileTimeMs = compileTimeMs
        self.timesMs = timesMs
        self.error = error
        self.computeUnits = computeUnits
        self.device = device
    }

    /// ExecuTorch records: average and trimmed-mean latency, load time.
    public var metrics: [BenchMetric] {
        let parts = BenchProtocol.artifactParts(stem: model)
        let info = BenchModelInfo(
            name: parts.model, backend: BenchProtocol.backend, quantization: parts.quantization)
        var values: [(String, Double)] = []
        if let s = BenchStats(timesMs) {
            values.append((BenchProtocol.avgLatency, s.mean))
            values.append((BenchProtocol.trimmeanLatency, s.trimmean))
        }
        if let load = modelLoadTimeMs {
            values.append((BenchProtocol.loadTime, load))
        }
        return values.map { name, v in
            BenchMetric(
                benchmarkModel: info, metric: name, actualValue: round4(v), targetValue: 0,
                deviceInfo: device)
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, model, threads, warmup, runs
        case modelLoadTimeMs = "model_load_time_ms"
        case compileTimeMs = "compile_time_ms"
        case timesMs = "times_ms"
        case error
        case computeUnits = "compute_units"
        case metrics
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(BenchProtocol.format, forKey: .format)
        try c.encode(model, forKey: .model)
        try c.encodeNil(forKey: .threads)  // Core ML picks its own threads
        try c.encode(warmup, forKey: .warmup)
        try c.encode(runs, forKey: .runs)
        if let v = modelLoadTimeMs {
            try c.encode(round4(v), forKey: .modelLoadTimeMs)
        } else {
            try c.encodeNil(forKey: .modelLoadTimeMs)
        }
        if let v = compileTimeMs {
            try c.encode(round4(v), forKey: .compileTimeMs)
        } else {
            try c.encodeNil(forKey: .compileTimeMs)
        }
        try c.encode(timesMs.map(round4), forKey: .timesMs)
        if let e = error {
            try c.encode(e, forKey: .error)
        } else {
            try c.encodeNil(forKey: .error)
        }
        try c.encode(computeUnits, forKey: .computeUnits)
        try c.encode(metrics, forKey: .metrics)
    }

    /// The JSON on one line.
    public func json() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.withoutEscapingSlashes]
        let data = try enc.encode(self)
        return String(decoding: data, as: UTF8.self)
    }

    /// The line the benchmark prints: `MOBILEVID_BENCH {json}`.
    public func line() throws -> String {
        let text = try json()
        return BenchProtocol.marker + text
    }
}

func round4(_ x: Double) -> Double {
    (x * 10_000).rounded() / 10_000
}
