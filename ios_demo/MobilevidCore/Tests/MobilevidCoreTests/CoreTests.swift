import Foundation
import XCTest

@testable import MobilevidCore

final class SamplingTests: XCTestCase {
    func testMatchesPythonVectors() throws {
        let v = try Vectors.load(SamplingVectors.self, "sampling.json")
        XCTAssertEqual(v.format, Vectors.format)
        XCTAssertFalse(v.cases.isEmpty)
        for c in v.cases {
            let got = try Sampling.indices(
                videoFrames: c.video_frames, frames: c.frames, frameStride: c.frame_stride)
            XCTAssertEqual(got, c.indices, "n=\(c.video_frames) T=\(c.frames) stride=\(String(describing: c.frame_stride))")
        }
    }

    func testRejectsEmptyVideo() {
        XCTAssertThrowsError(try Sampling.indices(videoFrames: 0, frames: 16))
        XCTAssertThrowsError(try Sampling.indices(videoFrames: 10, frames: 16, frameStride: 0))
    }
}

final class WindowsTests: XCTestCase {
    func testMatchesPythonVectors() throws {
        let v = try Vectors.load(WindowsVectors.self, "windows.json")
        XCTAssertEqual(v.format, Vectors.format)
        for h in v.hops {
            XCTAssertEqual(Windows.hopFrames(seconds: h.seconds, fps: h.fps), h.frames, "\(h.seconds) s at \(h.fps)")
        }
        XCTAssertFalse(v.cases.isEmpty)
        for (k, c) in v.cases.enumerated() {
            let w = try Windows(frames: c.frames, window: c.window, stride: c.stride, hop: c.hop)
            XCTAssertEqual(w.span, c.span, "case \(k): span")
            let live = LiveSchedule(windows: w)
            for (e, (event, want)) in zip(c.events, c.actions).enumerated() {
                if event == "d" {
                    XCTAssertNil(want, "case \(k) event \(e)")
                    live.onDone()
                    continue
                }
                let expected = try XCTUnwrap(want, "case \(k) event \(e)")
                let got = live.onFrame()
                XCTAssertEqual(got.action.rawValue, expected.action, "case \(k) event \(e)")
                XCTAssertEqual(got.start, expected.start, "case \(k) event \(e)")
                if got.start >= 0 {
                    XCTAssertEqual(w.indices(start: got.start, n: live.received), expected.indices)
                }
            }
            XCTAssertEqual(live.started, c.started)
            XCTAssertEqual(live.dropped, c.dropped)
        }
        for s in v.smoothing {
            var sm = try Smoother(size: s.size)
            for (input, output) in zip(s.inputs, s.outputs) {
                assertClose(try sm.add(input).map { Float($0) }, output, tolerance: v.tolerance, "smoothing \(s.size)")
            }
        }
    }

    func testRejectsBadArguments() {
        XCTAssertThrowsError(try Windows(frames: 8, window: 4, stride: 1, hop: 1))
        XCTAssertThrowsError(try Windows(frames: 4, window: 4, stride: 1, hop: 0))
        XCTAssertThrowsError(try Smoother(size: 0))
        XCTAssertEqual(Windows.hopFrames(seconds: 0.001, fps: 30), 1)
    }
}

final class PreprocessTests: XCTestCase {
    func testMatchesPythonVectors() throws {
        let v = try Vectors.load(PreprocessVectors.self, "preprocess.json")
        XCTAssertEqual(v.format, Vectors.format)
        XCTAssertFalse(v.cases.isEmpty)
        for c in v.cases {
            let got = Preprocess.clip(
                rgb: c.rgb, frames: c.frames, height: c.height, width: c.width,
                size: c.size, mean: c.mean, std: c.std)
            assertClose(
                got, c.expected, tolerance: v.tolerance,
                "T=\(c.frames) \(c.height)x\(c.width) -> \(c.size)")
        }
    }

    /// A frame shown after k clockwise quarter turns reads like the same frame
    /// rotated in memory; BGRA with padded rows reads like packed RGB.
    func testRotationAndBGRAMatchPackedRGB() {
        let w = 13, h = 9, size = 5
        var gen = SplitMix(seed: 7)
        let rgb = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: gen.next()) }
        func pixel(_ x: Int, _ y: Int) -> ArraySlice<UInt8> {
            let o = (y * w + x) * 3
            return rgb[o..<(o + 3)]
        }
        for k in 1...3 {
            // rotate clockwise k times in memory
            let (rw, rh) = k % 2 == 0 ? (w, h) : (h, w)
            var rotated = [UInt8]()
            for y in 0..<rh {
                for x in 0..<rw {
                    let source: (x: Int, y: Int)
                    switch k {
                    case 1: source = (y, h - 1 - x)
                    case 2: source = (w - 1 - x, h - 1 - y)
                    default: source = (w - 1 - y, x)
                    }
                    rotated += pixel(source.x, source.y)
                }
            }
            let want = resized(rotated, width: rw, height: rh, size: size, layout: .rgb, turns: 0)
            let got = resized(rgb, width: w, height: h, size: size, layout: .rgb, turns: k)
            XCTAssertEqual(got, want, "quarter turns \(k)")
        }
        // BGRA, rows padded to 64 bytes
        let rowBytes = 64
        var bgra = [UInt8](repeating: 0, count: rowBytes * h)
        for y in 0..<h {
            for x in 0..<w {
                let p = pixel(x, y)
                let o = y * rowBytes + x * 4
                bgra[o] = p[p.startIndex + 2]
                bgra[o + 1] = p[p.startIndex + 1]
                bgra[o + 2] = p[p.startIndex]
                bgra[o + 3] = 255
            }
        }
        XCTAssertEqual(
            resized(bgra, width: w, height: h, size: size, layout: .bgra, turns: 0, rowBytes: rowBytes),
            resized(rgb, width: w, height: h, size: size, layout: .rgb, turns: 0))
    }

    private func resized(
        _ bytes: [UInt8], width: Int, height: Int, size: Int, layout: PixelLayout, turns: Int,
        rowBytes: Int? = nil
    ) -> [Float] {
        bytes.withUnsafeBufferPointer { buf in
            let view = FrameView(
                base: buf.baseAddress!, width: width, height: height,
                bytesPerRow: rowBytes ?? width * layout.bytesPerPixel, layout: layout,
                quarterTurns: turns)
            var out: [Float] = []
            Preprocess.cropResize(view, size: size, into: &out)
            return out
        }
    }
}

final class TopKTests: XCTestCase {
    func testMatchesPythonVectors() throws {
        let v = try Vectors.load(TopKVectors.self, "topk.json")
        XCTAssertEqual(v.format, Vectors.format)
        XCTAssertFalse(v.cases.isEmpty)
        for c in v.cases {
            let logits = c.logits.map { Float($0) }
            let top = TopK.topK(logits, k: c.k)
            XCTAssertEqual(top.map { $0.index }, c.indices, "n=\(logits.count) k=\(c.k)")
            assertClose(top.map { Float($0.probability) }, c.probs, tolerance: v.tolerance, "probs")
        }
    }

    func testTiesTakeTheLowerIndexAndLabelsFallBack() {
        let p = TopK.predictions([1, 3, 3, 0], labels: ["a", "b"], k: 3)
        XCTAssertEqual(p.map(\.index), [1, 2, 0])
        XCTAssertEqual(p.map(\.label), ["b", "class 2", "a"])
        XCTAssertEqual(TopK.softmax([0, 0]), [0.5, 0.5])
    }
}

final class BenchStatsTests: XCTestCase {
    func testMatchesPythonVectors() throws {
        let v = try Vectors.load(StatsVectors.self, "stats.json")
        XCTAssertEqual(v.format, Vectors.format)
        XCTAssertFalse(v.cases.isEmpty)
        for c in v.cases {
            // the vectors hold Stats.to_json's values, rounded to 4 decimals
            let raw = try XCTUnwrap(BenchStats(c.times_ms))
            let s = raw.rounded(places: 4)
            let want = [c.median, c.p90, c.min, c.max, c.mean, c.trimmean, c.stdev]
            let got = [s.median, s.p90, s.min, s.max, s.mean, s.trimmean, s.stdev]
            let unrounded = [raw.median, raw.p90, raw.min, raw.max, raw.mean, raw.trimmean, raw.stdev]
            for (name, (g, (w, u))) in zip(
                ["median", "p90", "min", "max", "mean", "trimmean", "stdev"],
                zip(got, zip(want, unrounded)))
            {
                XCTAssertEqual(g, w, accuracy: v.tolerance, "\(name) of \(c.times_ms.count) times")
                XCTAssertEqual(u, w, accuracy: 0.5e-4 + v.tolerance, "\(name), unrounded")
            }
            XCTAssertEqual(raw.n, c.times_ms.count)
        }
        XCTAssertNil(BenchStats([]))
    }
}

final class ModelSpecTests: XCTestCase {
    /// The stand-in .pte of the vector hashes to the sidecar's record; one
    /// flipped bit is refused.
    func testArtifactCheckAgreesWithPython() throws {
        let v = try Vectors.load(SidecarVectors.self, "sidecar.json")
        let raw = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: try Vectors.data("sidecar.json")) as? [String: Any])
        let s = try ArtifactSidecar.load(
            from: try JSONSerialization.data(withJSONObject: try XCTUnwrap(raw["sidecar"])))
        var bytes = [UInt8]()
        var hex = Substring(v.artifact_hex)
        while !hex.isEmpty {
            bytes.append(UInt8(hex.prefix(2), radix: 16)!)
            hex = hex.dropFirst(2)
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stand-in.pte")
        try Data(bytes).write(to: url)
        XCTAssertNoThrow(try s.checkArtifact(at: url))
        bytes[bytes.count / 2] ^= 1
        try Data(bytes).write(to: url)
        XCTAssertThrowsError(try s.checkArtifact(at: url))
    }

    func testSidecarMatchesExpected() throws {
        let v = try Vectors.load(SidecarVectors.self, "sidecar.json")
        XCTAssertEqual(v.format, Vectors.format)
        let raw = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: try Vectors.data("sidecar.json")) as? [String: Any])
        let sidecarJSON = try JSONSerialization.data(withJSONObject: try XCTUnwrap(raw["sidecar"]))
        let s = try ArtifactSidecar.load(from: sidecarJSON)
        let e = v.expected
        XCTAssertEqual(s.format, "mobilevid-artifact")
        XCTAssertEqual(s.schemaVersion, 2)
        XCTAssertEqual(s.artifact.sha256, e.artifact_sha256)
        XCTAssertEqual(s.artifact.bytes, e.artifact_bytes)
        XCTAssertEqual(s.model, e.model)
        XCTAssertEqual(s.input.name, e.input_name)
        XCTAssertEqual(s.output.name, e.output_name)
        XCTAssertEqual(s.input.shape, e.input_shape)
        XCTAssertEqual(s.input.frames, e.frames)
        XCTAssertEqual(s.input.size, e.size)
        XCTAssertEqual(s.input.frameStride, e.frame_stride)
        XCTAssertEqual(s.input.mean, e.mean)
        XCTAssertEqual(s.input.std, e.std)
        XCTAssertEqual(s.numClasses, e.num_classes)
        XCTAssertEqual(s.labels.count, e.labels_count)
        XCTAssertEqual(s.labels.first, e.label_0)
        XCTAssertEqual(s.labels[399], e.label_399)
        // the names the exporter fixes
        XCTAssertEqual(e.input_name, ModelInterface.inputName)
        XCTAssertEqual(e.output_name, ModelInterface.outputName)
    }

    /// Metadata built as `mobilevid/export/coreml.py` builds it from the same
    /// sidecar: model, input (JSON), labels (JSON), meta (JSON of the rest).
    func testCoreMLMetadataAsTheExporterWritesIt() throws {
        let raw = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: try Vectors.data("sidecar.json")) as? [String: Any])
        let side = try XCTUnwrap(raw["sidecar"] as? [String: Any])
        func json(_ x: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: x), as: UTF8.self)
        }
        let rest = side.filter { $0.key != "labels" && $0.key != "input" }
        let md: [String: String] = [
            "mobilevid.model": try XCTUnwrap(side["model"] as? String),
            "mobilevid.input": try json(try XCTUnwrap(side["input"])),
            "mobilevid.labels": try json(try XCTUnwrap(side["labels"])),
            "mobilevid.meta": try json(rest),
        ]
        XCTAssertEqual(Set(md.keys), Set(MetadataKey.all))
        let spec = try ModelSpec(metadata: md)
        let e = try Vectors.load(SidecarVectors.self, "sidecar.json").expected
        XCTAssertEqual(spec.model, e.model)
        XCTAssertEqual(spec.input.name, e.input_name)
        XCTAssertEqual(spec.outputName, e.output_name)
        XCTAssertEqual(spec.inputShape, e.input_shape)
        XCTAssertEqual(spec.input.frames, e.frames)
        XCTAssertEqual(spec.input.mean, e.mean)
        XCTAssertEqual(spec.numClasses, e.num_classes)
        XCTAssertEqual(spec.label(399), e.label_399)
        XCTAssertEqual(spec.quantize, "fp32")
        XCTAssertEqual(try spec.sampleIndices(videoFrames: 250).count, e.frames)
        // and back
        XCTAssertEqual(try ModelSpec(metadata: try spec.metadata()), spec)
    }

    func testMissingMetadataSaysWhichKey() {
        XCTAssertThrowsError(try ModelSpec(metadata: ["mobilevid.model": "x"])) { error in
            XCTAssertEqual(error as? ModelSpecError, .missingKey(MetadataKey.input))
        }
        XCTAssertThrowsError(
            try ModelSpec(metadata: [
                "mobilevid.model": "x", "mobilevid.input": "{", "mobilevid.labels": "[]",
            ]))
    }
}

final class BenchReportTests: XCTestCase {
    let device = BenchDeviceInfo(
        device: "Apple", arch: "iPhone15,4", os: "iOS 17.5", totalMem: 6, availMem: 3)

    func testArtifactNames() {
        XCTAssertEqual(BenchProtocol.artifactParts(stem: "vmf-560m_coreml_fp16").model, "vmf-560m")
        XCTAssertEqual(BenchProtocol.artifactParts(stem: "vmf-560m_coreml_fp16").quantization, "fp16")
        XCTAssertEqual(BenchProtocol.artifactParts(stem: "custom").model, "custom")
        XCTAssertEqual(BenchProtocol.artifactParts(stem: "custom").quantization, "unknown")
    }

    func testLineIsTheDeviceBenchFormat() throws {
        let r = DeviceBenchResult(
            model: "vmf-560m_coreml_int8", warmup: 2, runs: 3, modelLoadTimeMs: 41.56789,
            compileTimeMs: 30, timesMs: [10, 12, 11.5], error: nil, computeUnits: "all",
            device: device)
        let line = try r.line()
        XCTAssertTrue(line.hasPrefix("MOBILEVID_BENCH {"))
        XCTAssertFalse(line.contains("\n"))
        let payload = Data(line.dropFirst(BenchProtocol.marker.count).utf8)
        let d = try XCTUnwrap(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        XCTAssertEqual(d["format"] as? String, "mobilevid-device-bench/1")
        XCTAssertEqual(d["model"] as? String, "vmf-560m_coreml_int8")
        XCTAssertTrue(d["threads"] is NSNull)
        XCTAssertTrue(d["error"] is NSNull)
        XCTAssertEqual(d["warmup"] as? Int, 2)
        XCTAssertEqual(d["runs"] as? Int, 3)
        XCTAssertEqual(try XCTUnwrap(d["model_load_time_ms"] as? Double), 41.5679, accuracy: 1e-9)
        XCTAssertEqual((d["times_ms"] as? [Double])?.count, 3)
        let metrics = try XCTUnwrap(d["metrics"] as? [[String: Any]])
        XCTAssertEqual(
            metrics.compactMap { $0["metric"] as? String },
            ["avg_inference_latency(ms)", "trimmean_inference_latency(ms)", "model_load_time(ms)"])
        let first = metrics[0]
        XCTAssertEqual(
            Set(first.keys), ["benchmarkModel", "metric", "actualValue", "targetValue", "deviceInfo"])
        let model = try XCTUnwrap(first["benchmarkModel"] as? [String: Any])
        XCTAssertEqual(model["name"] as? String, "vmf-560m")
        XCTAssertEqual(model["backend"] as? String, "coreml")
        XCTAssertEqual(model["quantization"] as? String, "int8")
        let info = try XCTUnwrap(first["deviceInfo"] as? [String: Any])
        XCTAssertEqual(Set(info.keys), ["device", "arch", "os", "totalMem", "availMem"])
        XCTAssertEqual(try XCTUnwrap(first["actualValue"] as? Double), 11.1667, accuracy: 1e-9)
    }

    func testErrorLineHasNoLatencyMetrics() throws {
        let r = DeviceBenchResult(
            model: "m_coreml_fp16", warmup: 1, runs: 1, modelLoadTimeMs: nil, compileTimeMs: nil,
            timesMs: [], error: "could not load", computeUnits: "all", device: device)
        let payload = Data(try r.json().utf8)
        let d = try XCTUnwrap(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        XCTAssertEqual(d["error"] as? String, "could not load")
        XCTAssertTrue(d["model_load_time_ms"] is NSNull)
        XCTAssertEqual((d["metrics"] as? [Any])?.count, 0)
    }
}

/// Deterministic bytes for the tests (no Foundation randomness differences).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
