import AVFoundation
import Foundation

/// Records a short clip from the back camera (AVCaptureSession +
/// AVCaptureMovieFileOutput, no audio); the file is then read like any video.
@MainActor
final class CameraRecorder: NSObject, ObservableObject {
    enum Failure: LocalizedError {
        case denied
        case noCamera
        case cannotConfigure

        var errorDescription: String? {
            switch self {
            case .denied: return "camera access is off: allow it in Settings > Privacy > Camera"
            case .noCamera: return "no back camera"
            case .cannotConfigure: return "cannot set up the capture session"
            }
        }
    }

    @Published private(set) var isReady = false
    @Published private(set) var isRecording = false
    @Published var error: String?

    let session = AVCaptureSession()
    private let output = AVCaptureMovieFileOutput()
    private let sessionQueue = DispatchQueue(label: "org.mobilevid.demo.camera")
    private var finished: CheckedContinuation<URL, Error>?

    func start() async {
        do {
            try await configure()
            let session = self.session
            sessionQueue.async { session.startRunning() }
            isReady = true
        } catch {
            self.error = error.localizedDescription
        }
    }

    func stop() {
        let session = self.session
        sessionQueue.async { session.stopRunning() }
        isReady = false
    }

    private func configure() async throws {
        guard await AVCaptureDevice.requestAccess(for: .video) else { throw Failure.denied }
        guard session.inputs.isEmpty else { return }
        guard let camera = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back)
        else { throw Failure.noCamera }
        let input = try AVCaptureDeviceInput(device: camera)
        session.beginConfiguration()
        defer { session.commitConfiguration() }
        session.sessionPreset = .high
        guard session.canAddInput(input), session.canAddOutput(output) else {
            throw Failure.cannotConfigure
        }
        session.addInput(input)
        session.addOutput(output)
    }

    /// Records `seconds` of video in portrait; returns the .mov file.
    func record(seconds: Double) async throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("camera-\(UUID().uuidString).mov")
        if let connection = output.connection(with: .video),
            connection.isVideoRotationAngleSupported(90)
        {
            connection.videoRotationAngle = 90  // portrait: stored as a track transform
        }
        isRecording = true
        defer { isRecording = false }
        return try await withCheckedThrowingContinuation { continuation in
            finished = continuation
            output.startRecording(to: url, recordingDelegate: self)
            DispatchQueue.main.asyncAfter(deadline: .now() + seconds) { [output] in
                output.stopRecording()
            }
        }
    }

    private func didFinish(_ url: URL, _ error: Error?) {
        guard let continuation = finished else { return }
        finished = nil
        // AVFoundation reports some successful recordings with an error too
        let ok = (error as NSError?)?.userInfo[AVErrorRecordingSuccessfullyFinishedKey] as? Bool
        if let error, ok != true {
            continuation.resume(throwing: error)
        } else {
            continuation.resume(returning: url)
        }
    }
}

extension CameraRecorder: AVCaptureFileOutputRecordingDelegate {
    nonisolated func fileOutput(
        _ output: AVCaptureFileOutput, didFinishRecordingTo outputFileURL: URL,
        from connections: [AVCaptureConnection], error: Error?
    ) {
        Task { @MainActor in
            self.didFinish(outputFileURL, error)
        }
    }
}
