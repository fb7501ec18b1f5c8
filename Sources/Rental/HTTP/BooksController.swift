import Hummingbird
import Identity
import ServiceKit

/// `GET /books[?q=]` (`q`: words in the title or author), `GET /books/{id}` for anyone, without a
/// token; `POST /books` (with an optional `Idempotency-Key`) for admins: a new book alerts every
/// customer, so only admins may add one.
struct BooksController: Sendable {
    let store: RentalStore

    struct RegisterBookRequest: Decodable {
        var title: String?
        var author: String?
        var copies: WholeNumber?
    }

    func addRoutes(to group: RouterGroup<ServiceRequestContext>) {
        let writes = IdempotentWrites(writes: store.writes)
        group.post { request, context in
            let caller = try context.require(.admin)
            let body = try await request.collectBody()
            let input = try body.decodeJSON(as: RegisterBookRequest.self)
            let copies = input.copies?.value ?? 1
            guard Book.registrableCopies.contains(copies) else {
                throw APIError.badRequest("'copies' must be from 1 to \(Book.registrableCopies.upperBound)")
            }
            let (title, author) = (try Validate.text(input.title, "title"), try Validate.text(input.author, "author"))
            return try await writes.respond(to: request, by: caller, body: body, status: .created) { db in
                BookResponse(try store.registerBook(title: title, author: author, copies: copies, in: db))
            }
        }
        // Public: the catalogue is what anyone browses before signing in.
        group.get { request, _ in
            let page = try PageRequest(request)
            let search = request.uri.queryParameters.get("q").flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
            let books = try await store.books(page: page, matching: try search.map { try Validate.text($0, "q", maxLength: 200) })
            return page.page(books, for: request, cursor: { PageCursor(position: $0.createdAt, id: $0.id) }, map: BookResponse.init)
        }
        group.get("{id}") { _, context in BookResponse(try await store.book(id: try context.uuidParameter("id"))) }
    }
}
