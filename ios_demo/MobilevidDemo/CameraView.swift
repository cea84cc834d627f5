import AVFoundation
import SwiftUI
import UIKit

/// Camera preview and a record button; hands the recorded file back.
struct CameraView: View {
    let onRecorded: (URL) -> Void
    @Environment(\.dismiss) private var dismiss
    @StateObject private var camera = CameraRecorder()
    @State private var seconds = 3.0

    var body: some View {
        NavigationStack {
            VStack(spacing: 16) {
                CameraPreview(session: camera.session)
                    .aspectRatio(3.0 / 4.0, contentMode: .fit)
                    .clipShape(RoundedRectangle(cornerRadius: 12))
                Stepper("Clip: \(Int(seconds)) s", value: $seconds, in: 1...10)
                Button {
                    Task {
                        do {
                            let url = try await camera.record(seconds: seconds)
                            onRecorded(url)
                            dismiss()
                        } catch {
                            camera.error = error.localizedDescription
                        }
                    }
                } label: {
                    Label(camera.isRecording ? "Recording…" : "Record", systemImage: "record.circle")
                        .frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                .disabled(!camera.isReady || camera.isRecording)
                if let error = camera.error {
                    Text(error).font(.footnote).foregroundStyle(.red)
                }
                Spacer()
            }
            .padding()
            .navigationTitle("Camera")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { dismiss() }
                }
            }
            .task { await camera.start() }
            .onDisappear { camera.stop() }
        }
    }
}

/// AVCaptureVideoPreviewLayer in SwiftUI.
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer {
            // layerClass guarantees the type
            layer as! AVCaptureVideoPreviewLayer  // swiftlint:disable:this force_cast
        }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}
}
