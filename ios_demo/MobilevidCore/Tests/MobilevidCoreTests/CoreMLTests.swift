#if canImport(CoreML)
import CoreML
import XCTest

@testable import MobilevidCore

final class CoreMLIOTests: XCTestCase {
    func testMultiArrayRoundTrip() throws {
        let values = (0..<24).map { Float($0) / 4 }
        let array = try CoreMLIO.multiArray(values, shape: [1, 2, 3, 4])
        XCTAssertEqual(array.dataType, .float32)
        XCTAssertEqual(array.shape.map { $0.intValue }, [1, 2, 3, 4])
        XCTAssertEqual(array[[0, 1, 2, 3] as [NSNumber]].floatValue, values[23])
        XCTAssertEqual(CoreMLIO.floats(array), values)
        XCTAssertThrowsError(try CoreMLIO.multiArray(values, shape: [1, 5]))
    }

    func testComputeChoices() {
        XCTAssertEqual(ComputeChoice.allCases.map(\.rawValue), ["all", "cpuAndGPU", "cpuAndNeuralEngine", "cpuOnly"])
        XCTAssertEqual(ComputeChoice.cpuAndNeuralEngine.configuration().computeUnits, .cpuAndNeuralEngine)
    }
}
#endif
