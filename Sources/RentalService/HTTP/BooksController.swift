import Hummingbird
import ServiceKit

/// `POST /books` (with an optional `Idempotency-Key`), `GET /books`, `GET /books/{id}`.
struct BooksController: Sendable {
    let store: RentalStore

    struct RegisterBookRequest: Decodable {
        var title: String?
        var author: String?
        var copies: WholeNumber?
    }

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
        let writes = IdempotentWrites(database: store.database)
        group.post { request, _ in
            let body = try await request.collectBody()
            let input = try body.decodeJSON(as: RegisterBookRequest.self)
            let copies = input.copies?.value ?? 1
            guard (1...100_000).contains(copies) else { throw APIError.badRequest("'copies' must be from 1 to 100000") }
            let (title, author) = (try Validate.text(input.title, "title"), try Validate.text(input.author, "author"))
            return try await writes.respond(to: request, body: body, status: .created) { db in
                BookResponse(try store.registerBook(title: title, author: author, copies: copies, in: db))
            }
        }
        group.get { _, _ in try await store.books().map(BookResponse.init) }
        group.get("{id}") { _, context in BookResponse(try await store.book(id: try context.uuidParameter("id"))) }
    }
}
