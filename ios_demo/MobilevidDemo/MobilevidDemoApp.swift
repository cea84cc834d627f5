import SwiftUI

@main
struct MobilevidDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}
