import MobilevidCore
import SwiftUI

struct ContentView: View {
    @StateObject private var demo = DemoModel()
    @State private var showCamera = false
    @State private var live: LiveCamera?
    @State private var showImporter = false

    var body: some View {
        NavigationStack {
            Form {
                modelSection
                Section("Video") {
                    VideoPickerButton { url in
                        Task { await demo.classify(videoAt: url) }
                    }
                    Button {
                        showCamera = true
                    } label: {
                        Label("Record with the camera", systemImage: "camera")
                    }
                    Button {
                        live = demo.liveCamera()
                    } label: {
                        Label("Live camera", systemImage: "video")
                    }
                    if let info = demo.videoInfo {
                        Text(info).font(.footnote).foregroundStyle(.secondary)
                    }
                }
                .disabled(demo.loaded == nil || demo.busy)
                resultSection
                Section {
                    HStack {
                        if demo.busy { ProgressView() }
                        Text(demo.status).font(.footnote)
                    }
                }
            }
            .navigationTitle("mobilevid")
            .sheet(isPresented: $showCamera) {
                CameraView { url in
                    Task { await demo.classify(videoAt: url) }
                }
            }
            .sheet(
                isPresented: Binding(get: { live != nil }, set: { if !$0 { live = nil } })
            ) {
                if let live { LiveView(camera: live) }
            }
            .fileImporter(isPresented: $showImporter, allowedContentTypes: ModelStore.importTypes) { result in
                if case .success(let url) = result {
                    Task { await demo.importModel(url) }
                }
            }
            .onChange(of: demo.selected) { _, _ in
                Task { await demo.loadSelected() }
            }
            .onChange(of: demo.compute) { _, _ in
                Task { await demo.loadSelected() }
            }
            .task {
                demo.refreshModels()  // selecting the first model loads it (onChange)
            }
        }
    }

    private var modelSection: some View {
        Section("Model") {
            if !demo.models.isEmpty {
                Picker("Model", selection: $demo.selected) {
                    ForEach(demo.models) { entry in
                        Text("\(entry.name) (\(entry.origin))").tag(Optional(entry.url))
                    }
                }
            }
            Picker("Compute units", selection: $demo.compute) {
                ForEach([ComputeChoice.all, .cpuAndGPU, .cpuAndNeuralEngine]) { choice in
                    Text(choice.title).tag(choice)
                }
            }
            .pickerStyle(.segmented)
            if let loaded = demo.loaded {
                LabeledContent("Input", value: Self.describe(loaded.spec.input))
                LabeledContent("Load", value: Self.describe(loaded))
            }
            Button {
                showImporter = true
            } label: {
                Label("Add model from Files", systemImage: "plus")
            }
        }
        .disabled(demo.busy)
    }

    private var resultSection: some View {
        Section("Top 5") {
            if demo.predictions.isEmpty {
                Text("No result yet").foregroundStyle(.secondary)
            }
            ForEach(demo.predictions) { p in
                VStack(alignment: .leading, spacing: 4) {
                    HStack {
                        Text(p.label)
                        Spacer()
                        Text(String(format: "%.1f%%", p.probability * 100)).monospacedDigit()
                    }
                    ProgressView(value: p.probability)
                }
            }
            if let ms = demo.inferenceMs {
                LabeledContent("Inference", value: Self.ms(ms))
            }
            if let ms = demo.readMs {
                LabeledContent("Decode + preprocess", value: Self.ms(ms))
            }
            if let s = demo.repeated {
                LabeledContent("\(s.n) runs", value: "median \(Self.ms(s.median)), p90 \(Self.ms(s.p90))")
            }
            if demo.inferenceMs != nil {
                Button("Time 10 more runs") {
                    Task { await demo.repeatLast() }
                }
                .disabled(demo.busy)
            }
        }
    }

    static func describe(_ input: InputSpec) -> String {
        let sampling = input.frameStride.map { "stride \($0)" } ?? "uniform"
        return "\(input.frames) x \(input.size)x\(input.size), \(sampling)"
    }

    static func describe(_ loaded: Classifier.Loaded) -> String {
        var text = ms(loaded.loadMs)
        if let compile = loaded.compileMs {
            text += " + compile " + ms(compile)
        }
        return text
    }

    static func ms(_ x: Double) -> String {
        String(format: "%.1f ms", x)
    }
}
