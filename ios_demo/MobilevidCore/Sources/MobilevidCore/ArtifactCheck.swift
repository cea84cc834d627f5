// Refuse a model file its sidecar was not written for: another model's
// sidecar copied beside it, or bytes changed after export. The digest is
// mobilevid's (mobilevid/export/schema.py): for each part, its name, NUL, its
// size in decimal, NUL, then its bytes, all through one SHA-256. A loose file
// is one part named by its suffix (".pte"); an .mlpackage is every file inside
// it, named by its path in the package, sorted.
//
// An .mlpackage that Xcode compiled into the app bundle (.mlmodelc) is not the
// exported package any more: check models the app loads from files at run
// time (downloaded or copied into Documents), before compiling them.
import CryptoKit
import Foundation

extension ArtifactSidecar {
    /// (name, file) for every part of the artifact at `url`.
    public static func parts(of url: URL) throws -> [(String, URL)] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw SidecarError.unsupported("\(url.path) is missing")
        }
        if !isDir.boolValue {
            return [("." + url.pathExtension, url)]
        }
        let root = url.standardizedFileURL.resolvingSymlinksInPath().path + "/"
        var out: [(String, URL)] = []
        let walker = FileManager.default.enumerator(
            at: url, includingPropertiesForKeys: [.isRegularFileKey])
        while let f = walker?.nextObject() as? URL {
            guard (try? f.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true
            else { continue }
            let full = f.standardizedFileURL.resolvingSymlinksInPath().path
            out.append((String(full.dropFirst(root.count)), f))
        }
        // Python sorts str by code point: compare the UTF-8 bytes, not Swift's collation
        return out.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
    }

    /// The `artifact` record mobilevid would write for the file at `url`.
    public static func record(of url: URL) throws -> ArtifactRecord {
        var hash = SHA256()
        var total = 0
        var names: [String] = []
        for (name, file) in try parts(of: url) {
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
            hash.update(data: Data("\(name)\u{0}\(size)\u{0}".utf8))
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hash.update(data: chunk)
            }
            total += size
            names.append(name)
        }
        let hex = hash.finalize().map { String(format: "%02x", $0) }.joined()
        return ArtifactRecord(files: names, bytes: total, sha256: hex)
    }

    /// Throws `SidecarError.mismatch` unless the artifact at `url` is the one
    /// this sidecar was written for.
    public func checkArtifact(at url: URL) throws {
        let mine = url.path + ".json"
        let got = try Self.record(of: url)
        if got.files != artifact.files {
            throw SidecarError.mismatch(
                sidecar: mine, artifact: url.path, reason: "it describes \(artifact.files)")
        }
        if got.bytes != artifact.bytes {
            throw SidecarError.mismatch(
                sidecar: mine, artifact: url.path, reason: "\(got.bytes) bytes, not \(artifact.bytes)")
        }
        if got.sha256 != artifact.sha256 {
            throw SidecarError.mismatch(sidecar: mine, artifact: url.path, reason: "sha256 differs")
        }
    }
}
