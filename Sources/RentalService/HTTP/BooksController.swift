import Hummingbird
import ServiceKit

/// `POST /books`, `GET /books`, `GET /books/{id}`.
struct BooksController: Sendable {
    let store: RentalStore

    struct RegisterBookRequest: Decodable {
        var title: String?
        var author: String?
        var copies: Int?
    }

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        group.post { request, context in
            let input = try await request.decodeJSON(as: RegisterBookRequest.self, context: context)
            let copies = input.copies ?? 1
            guard (1...100_000).contains(copies) else { throw APIError.badRequest("'copies' must be from 1 to 100000") }
            let book = try await store.registerBook(
                title: try Validate.text(input.title, "title"), author: try Validate.text(input.author, "author"), copies: copies)
            return EditedResponse(status: .created, response: BookResponse(book))
        }
        group.get { _, _ in try await store.books().map(BookResponse.init) }
        group.get("{id}") { _, context in BookResponse(try await store.book(id: try context.uuidParameter("id"))) }
    }
}
