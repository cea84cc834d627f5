// swift-tools-version: 5.9
// The platform-independent core of the iOS demo: sampling, preprocessing,
// top-k, metadata/sidecar parsing and benchmark statistics, checked against
// the Python-generated vectors in ../../tests/app_vectors (`swift test`).
import PackageDescription

let package = Package(
    name: "MobilevidCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "MobilevidCore", targets: ["MobilevidCore"]),
    ],
    targets: [
        .target(name: "MobilevidCore"),
        .testTarget(name: "MobilevidCoreTests", dependencies: ["MobilevidCore"]),
    ]
)
