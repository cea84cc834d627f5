import Foundation

/// One class of the top-k: index into the labels, its softmax probability.
public struct Prediction: Equatable, Sendable, Identifiable {
    public var index: Int
    public var probability: Double
    public var label: String

    public var id: Int { index }

    public init(index: Int, probability: Double, label: String) {
        self.index = index
        self.probability = probability
        self.label = label
    }
}

/// Post-processing of the `logits` output, as the Python side computes it.
public enum TopK {
    /// Softmax in double precision after subtracting the maximum.
    public static func softmax(_ logits: [Float]) -> [Double] {
        guard let top = logits.max() else { return [] }
        let m = Double(top)
        let e = logits.map { exp(Double($0) - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// Indices of the `k` largest logits, largest first; ties: lower index first.
    public static func indices(_ logits: [Float], k: Int) -> [Int] {
        let order = logits.indices.sorted { a, b in
            logits[a] > logits[b] || (logits[a] == logits[b] && a < b)
        }
        return Array(order.prefix(max(0, k)))
    }

    /// Top-k (index, probability) pairs.
    public static func topK(_ logits: [Float], k: Int) -> [(index: Int, probability: Double)] {
        let p = softmax(logits)
        return indices(logits, k: k).map { (index: $0, probability: p[$0]) }
    }

    /// Top-k with labels (`labels` may be shorter than the logits: "class i").
    public static func predictions(_ logits: [Float], labels: [String], k: Int = 5) -> [Prediction] {
        topK(logits, k: k).map { item in
            let label = item.index < labels.count ? labels[item.index] : "class \(item.index)"
            return Prediction(index: item.index, probability: item.probability, label: label)
        }
    }
}
