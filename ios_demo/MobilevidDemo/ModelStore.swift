import Foundation
import UniformTypeIdentifiers

/// A model the app can run: compiled into the app (an .mlpackage added to the
/// target in Xcode becomes an .mlmodelc in the bundle) or copied into the
/// app's Documents (Files / Finder file sharing / "Add model").
struct ModelEntry: Identifiable, Hashable, Sendable {
    var url: URL
    var origin: String
    var id: URL { url }
    var name: String { url.deletingPathExtension().lastPathComponent }
}

enum ModelStore {
    static let extensions: Set<String> = ["mlmodelc", "mlpackage", "mlmodel"]

    static var documents: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    static func available() -> [ModelEntry] {
        var found: [ModelEntry] = []
        let bundled = Bundle.main.urls(forResourcesWithExtension: "mlmodelc", subdirectory: nil) ?? []
        found += bundled.map { ModelEntry(url: $0, origin: "app") }
        let docs = (try? FileManager.default.contentsOfDirectory(
            at: documents, includingPropertiesForKeys: nil)) ?? []
        found += docs.filter { extensions.contains($0.pathExtension) }
            .map { ModelEntry(url: $0, origin: "Documents") }
        return found.sorted { $0.name < $1.name }
    }

    /// What the Files picker offers: model packages (directories) and files.
    static var importTypes: [UTType] {
        var types: [UTType] = [.package, .folder]
        if let t = UTType(filenameExtension: "mlpackage", conformingTo: .package) { types.insert(t, at: 0) }
        if let t = UTType(filenameExtension: "mlmodel") { types.append(t) }
        return types
    }

    /// Copies a picked model into Documents (the picker's URL is security scoped).
    static func importModel(from url: URL) throws -> ModelEntry {
        let scoped = url.startAccessingSecurityScopedResource()
        defer { if scoped { url.stopAccessingSecurityScopedResource() } }
        guard extensions.contains(url.pathExtension) else {
            throw CocoaError(.fileReadUnsupportedScheme, userInfo: [
                NSLocalizedDescriptionKey: "\(url.lastPathComponent) is not a Core ML model (.mlpackage)"
            ])
        }
        let dest = documents.appendingPathComponent(url.lastPathComponent)
        if FileManager.default.fileExists(atPath: dest.path) {
            try FileManager.default.removeItem(at: dest)
        }
        try FileManager.default.copyItem(at: url, to: dest)
        return ModelEntry(url: dest, origin: "Documents")
    }
}
