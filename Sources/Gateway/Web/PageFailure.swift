import HTTPTypes

/// An API call a page could not do without: shown on the page with the API's status and message.
struct PageFailure: Error {
    var status: HTTPResponse.Status
    var problem: ProblemModel
    var retryAfter: String?

    init(status: HTTPResponse.Status, message: String) {
        self.status = status
        self.problem = ProblemModel(message: message)
    }

    init(_ answer: PublicAPI.Answer) {
        status = answer.status
        retryAfter = answer.headers[.retryAfter]
        let busy = answer.status == .tooManyRequests || answer.status == .serviceUnavailable
        problem = ProblemModel(message: Self.sentence(answer.errorMessage), busySeconds: busy ? (retryAfter ?? "1") : nil)
    }

    var title: String {
        switch status {
        case .tooManyRequests, .serviceUnavailable: "Busy"
        case .notFound: "Not found"
        case .forbidden: "Not allowed"
        default: "Something went wrong"
        }
    }

    var retryHeaders: HTTPFields {
        guard let retryAfter else { return [:] }
        return [.retryAfter: retryAfter]
    }

    /// The API's message as a sentence.
    static func sentence(_ message: String) -> String {
        guard let first = message.first else { return message }
        return first.uppercased() + message.dropFirst() + (message.hasSuffix(".") ? "" : ".")
    }
}
