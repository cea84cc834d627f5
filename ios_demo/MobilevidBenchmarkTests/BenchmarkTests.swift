import CoreML
import Foundation
import MobilevidCore
import XCTest
import os

/// The iPhone side of `mobilevid bench --device iphone15`
/// (`mobilevid/bench/ios.py`): for every model in the test bundle's
/// `BenchModels/` folder, time the load (compile, when the folder holds an
/// .mlpackage, + `MLModel(contentsOf:configuration:)`), run W untimed and R
/// timed predictions on a random input of the model's input shape, and print
/// one `MOBILEVID_BENCH {json}` line (format `mobilevid-device-bench/1`, with
/// ExecuTorch benchmark metric records); the JSON is attached to the result too.
///
/// W, R and the compute units come from the build settings MOBILEVID_WARMUP,
/// MOBILEVID_RUNS, MOBILEVID_COMPUTE_UNITS (`xcodebuild test ... MOBILEVID_RUNS=20`),
/// which the test bundle's Info.plist expands at build time; an environment
/// variable of the same name (`TEST_RUNNER_MOBILEVID_RUNS=20 xcodebuild ...`)
/// overrides them at run time.
final class BenchmarkTests: XCTestCase {
    struct Settings {
        var warmup: Int
        var runs: Int
        var compute: ComputeChoice

        init(bundle: Bundle, environment: [String: String] = ProcessInfo.processInfo.environment) {
            // the environment (scheme, TEST_RUNNER_ prefix) first, then the
            // Info.plist; unset or unexpanded values ("$(...)", "") are skipped
            func setting<T>(_ key: String, _ parse: (String) -> T?) -> T? {
                let plist = bundle.object(forInfoDictionaryKey: key)
                let candidates = [environment[key], plist as? String, (plist as? NSNumber)?.stringValue]
                for case let text? in candidates {
                    if let value = parse(text.trimmingCharacters(in: .whitespaces)) {
                        return value
                    }
                }
                return nil
            }
            warmup = max(0, setting("MOBILEVID_WARMUP") { Int($0) } ?? 3)
            runs = max(1, setting("MOBILEVID_RUNS") { Int($0) } ?? 10)
            compute = setting("MOBILEVID_COMPUTE_UNITS") { ComputeChoice(rawValue: $0) } ?? .all
        }
    }

    static let modelExtensions: Set<String> = ["mlpackage", "mlmodelc", "mlmodel"]

    func testBenchmarkBundledModels() throws {
        let bundle = Bundle(for: BenchmarkTests.self)
        let settings = Settings(bundle: bundle)
        let models = Self.models(in: bundle)
        guard !models.isEmpty else {
            XCTFail(
                "no models in the test bundle: put .mlpackage files in ios_demo/BenchModels/ "
                    + "(mobilevid bench --device iphone15 does) and build again")
            return
        }
        let device = Self.deviceInfo()
        for url in models {
            let result = Self.bench(url, settings: settings, device: device)
            let line = try result.line()
            print(line)
            fflush(stdout)
            let attachment = XCTAttachment(string: try result.json())
            attachment.name = result.model + ".json"
            attachment.lifetime = .keepAlways
            add(attachment)
            if let error = result.error {
                XCTFail("\(result.model): \(error)")
            }
        }
    }

    /// Models in `BenchModels/` (a folder reference: copied as they are) and
    /// any compiled into the bundle root (models added to the target directly).
    static func models(in bundle: Bundle) -> [URL] {
        let fm = FileManager.default
        var found: [String: URL] = [:]
        var dirs: [URL] = [bundle.bundleURL]
        if let folder = bundle.url(forResource: "BenchModels", withExtension: nil) {
            dirs.insert(folder, at: 0)
        }
        for dir in dirs {
            let items = (try? fm.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? []
            for url in items where modelExtensions.contains(url.pathExtension) {
                let stem = url.deletingPathExtension().lastPathComponent
                if found[stem] == nil {
                    found[stem] = url
                }
            }
        }
        return found.keys.sorted().compactMap { found[$0] }
    }

    static func bench(_ url: URL, settings: Settings, device: BenchDeviceInfo) -> DeviceBenchResult {
        let stem = url.deletingPathExtension().lastPathComponent
        var compileMs: Double?
        var loadMs: Double?
        var times: [Double] = []
        var failure: String?
        do {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var compiled = url
            if url.pathExtension != "mlmodelc" {
                compiled = try MLModel.compileModel(at: url)  // on the device, as an app would
                compileMs = elapsedMs(since: t0)
            }
            let model = try MLModel(contentsOf: compiled, configuration: settings.compute.configuration())
            loadMs = elapsedMs(since: t0)
            let features = try randomFeatures(for: model)
            for _ in 0..<settings.warmup {
                try autoreleasepool { _ = try model.prediction(from: features) }
            }
            for _ in 0..<settings.runs {
                let start = DispatchTime.now().uptimeNanoseconds
                try autoreleasepool { _ = try model.prediction(from: features) }
                times.append(elapsedMs(since: start))
            }
        } catch {
            failure = "\(error)"
        }
        return DeviceBenchResult(
            model: stem, warmup: settings.warmup, runs: settings.runs, modelLoadTimeMs: loadMs,
            compileTimeMs: compileMs, timesMs: failure == nil ? times : [], error: failure,
            computeUnits: settings.compute.rawValue, device: device)
    }

    /// A random input for the model's (single) multi-array input: `video`
    /// for mobilevid models, (1, 3, T, S, S).
    static func randomFeatures(for model: MLModel) throws -> MLFeatureProvider {
        let inputs = model.modelDescription.inputDescriptionsByName
        let name = inputs[ModelInterface.inputName] != nil
            ? ModelInterface.inputName : (inputs.keys.sorted().first ?? ModelInterface.inputName)
        guard let shape = inputs[name]?.multiArrayConstraint?.shape.map({ $0.intValue }), !shape.isEmpty
        else {
            throw NSError(
                domain: "MobilevidBenchmark", code: 1,
                userInfo: [NSLocalizedDescriptionKey: "input \(name) is not a multi-array"])
        }
        let array = try CoreMLIO.randomInput(shape: shape)
        return try MLDictionaryFeatureProvider(dictionary: [name: MLFeatureValue(multiArray: array)])
    }

    static func elapsedMs(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    /// ExecuTorch's deviceInfo: vendor, hardware model, OS, memory.
    static func deviceInfo() -> BenchDeviceInfo {
        var sys = utsname()
        uname(&sys)
        let machine = withUnsafeBytes(of: sys.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let v = ProcessInfo.processInfo.operatingSystemVersion
        #if os(iOS)
            let available = UInt64(os_proc_available_memory())
            let osName = "iOS"
        #else
            let available: UInt64 = 0
            let osName = "macOS"
        #endif
        return BenchDeviceInfo(
            device: "Apple", arch: machine,
            os: "\(osName) \(v.majorVersion).\(v.minorVersion).\(v.patchVersion)",
            totalMem: ProcessInfo.processInfo.physicalMemory, availMem: available)
    }
}
