import CoreTransferable
import PhotosUI
import SwiftUI
import UniformTypeIdentifiers

/// A video from the photo library, copied to a temporary file.
struct PickedVideo: Transferable {
    let url: URL

    static var transferRepresentation: some TransferRepresentation {
        FileRepresentation(contentType: .movie) { video in
            SentTransferredFile(video.url)
        } importing: { received in
            let name = UUID().uuidString + "." + received.file.pathExtension
            let copy = FileManager.default.temporaryDirectory.appendingPathComponent(name)
            try FileManager.default.copyItem(at: received.file, to: copy)
            return PickedVideo(url: copy)
        }
    }
}

/// "Pick a video" (PhotosPicker, no photo-library permission needed).
struct VideoPickerButton: View {
    let onPicked: (URL) -> Void
    @State private var item: PhotosPickerItem?
    @State private var error: String?

    var body: some View {
        PhotosPicker(selection: $item, matching: .videos) {
            Label("Pick a video", systemImage: "film")
        }
        .onChange(of: item) { _, newItem in
            guard let newItem else { return }
            Task {
                do {
                    if let video = try await newItem.loadTransferable(type: PickedVideo.self) {
                        onPicked(video.url)
                    }
                } catch {
                    self.error = error.localizedDescription
                }
                item = nil
            }
        }
        if let error {
            Text(error).font(.footnote).foregroundStyle(.red)
        }
    }
}
