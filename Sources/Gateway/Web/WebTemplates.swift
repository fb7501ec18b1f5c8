import Foundation
import Hummingbird
import Mustache

/// The web app's templates, compiled into the binary (`Resources/`, embedded by the package).
struct WebTemplates: Sendable {
    let library: MustacheLibrary

    static let pages: [(name: String, bytes: [UInt8])] = [
        ("layout", PackageResources.layout_mustache), ("signin", PackageResources.signin_mustache),
        ("books", PackageResources.books_mustache), ("book", PackageResources.book_mustache),
        ("rentals", PackageResources.rentals_mustache), ("deliveries", PackageResources.deliveries_mustache),
        ("alerts", PackageResources.alerts_mustache), ("operations", PackageResources.operations_mustache),
    ]

    init() throws {
        var library = MustacheLibrary()
        for page in Self.pages { try library.register(String(decoding: page.bytes, as: UTF8.self), named: page.name) }
        self.library = library
    }

    func render(_ object: Any, _ template: String) -> String {
        library.render(object, withTemplate: template) ?? ""
    }
}

/// The files the pages load, and the API's OpenAPI document.
enum StaticFiles {
    static let css = ByteBuffer(bytes: PackageResources.app_css)
    static let script = ByteBuffer(bytes: PackageResources.app_js)
    static let openAPI = ByteBuffer(bytes: PackageResources.openapi_json)
}
