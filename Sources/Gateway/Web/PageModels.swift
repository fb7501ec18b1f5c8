import Contracts
import Foundation
import Identity

/// What a page's template is rendered from (Mustache reads its stored properties by name).
protocol PageModel {}

// MARK: - The layout

struct LayoutModel {
    struct NavigationItem {
        var href: String
        var label: String
        var current: Bool
    }

    var title: String
    var signedIn: Bool
    var subject: String
    var role: String
    var navigation: [NavigationItem]
    var notice: String?
    var problem: ProblemModel?
    var live: Bool
    /// Where the live feed was before the page's data was read (``LiveChanges/position``).
    var liveSince: String
    var refreshSeconds: String?
    var content: String

    /// The pages a role has, in the order its menu shows them.
    static func navigation(for role: Role, current path: String) -> [NavigationItem] {
        let items: [(String, String)] =
            switch role {
            case .customer: [("/app/books", "Books"), ("/app/rentals", "My rentals"), ("/app/alerts", "My alerts")]
            case .courier: [("/app/deliveries", "Deliveries"), ("/app/books", "Books")]
            case .admin:
                [
                    ("/app/operations", "Operations"), ("/app/books", "Books"), ("/app/deliveries", "Deliveries"),
                    ("/app/alerts", "Alert log"),
                ]
            }
        return items.map { NavigationItem(href: $0.0, label: $0.1, current: $0.0 == path) }
    }
}

/// An error shown on a page: 429 and 503 as "busy — try again in N s" (from `Retry-After`).
struct ProblemModel: Error {
    var message: String
    var busySeconds: String?
}

// MARK: - Pages

struct SignInModel: PageModel {
    struct Identity {
        var subject: String
        var role: String
    }

    var demo: Bool
    var demoMinutes: String
    var identities: [Identity]
}

struct BooksModel: PageModel {
    struct Book {
        var id: String
        var title: String
        var author: String
        var copies: Int
        var available: Int
        var orderable: Bool
    }

    struct RegisterForm {
        var title: String?
        var author: String?
        var copies: String?
    }

    var query: String?
    var stale: Bool
    var books: [Book]
    /// Stored: templates see stored properties only (Mirror).
    var hasBooks: Bool
    var nextHref: String?
    var canRegister: Bool
    var form: RegisterForm
    var idempotencyKey: String
}

struct BookModel: PageModel {
    var book: APIBook
    var address: String?
    var idempotencyKey: String
}

struct RentalsModel: PageModel {
    struct Rental {
        var rentalId: String
        var bookTitle: String
        var status: String
        var deliveryStatus: String
        var statusText: String
        var deliveryText: String
        var updatedAt: String
        var updatedAtText: String
        var canCancel: Bool
        var canReturn: Bool
        /// Why there is no cancel button any more.
        var cancelClosed: String?
        var actionKey: String
    }

    var rentals: [Rental]
    /// Stored: templates see stored properties only (Mirror).
    var hasRentals: Bool
    var fallback: Bool

    static func text(of status: RentalStatus) -> String {
        switch status {
        case .ordered: "Ordered"
        case .cancelRequested: "Cancellation requested"
        case .delivering: "Out for delivery"
        case .delivered: "Delivered"
        case .returned: "Returned"
        case .canceled: "Canceled"
        }
    }

    static func text(of status: ViewDeliveryStatus) -> String {
        switch status {
        case .pending: "Pending — being scheduled"
        case .known(.ready): "Ready — waiting for a courier"
        case .known(.started): "Started — the courier is on the way"
        case .known(.delivered): "Delivered"
        case .known(.canceled): "Canceled"
        case .unknown: "Unknown just now"
        }
    }

    /// What a customer may do with a rental, and why not: cancel until the delivery has started,
    /// return once delivered (the rules Rental enforces; the page only offers what it would accept).
    static func rental(_ view: APIRentalView, actionKey: String) -> Rental {
        let started = view.status == .delivering || view.deliveryStatus == .known(.started)
        var closed: String?
        if started {
            closed = "The delivery has started, so this rental can no longer be canceled."
        } else if view.status == .cancelRequested {
            closed = "Cancellation requested: waiting for the delivery to be called off."
        }
        return Rental(
            rentalId: view.rentalId, bookTitle: view.bookTitle ?? "Book \(view.bookId?.prefix(8) ?? "")", status: view.status.rawValue,
            deliveryStatus: view.deliveryStatus.rawValue, statusText: text(of: view.status), deliveryText: text(of: view.deliveryStatus),
            updatedAt: view.updatedAt ?? "", updatedAtText: readableTime(view.updatedAt),
            canCancel: view.status == .ordered && !started && view.deliveryStatus != .known(.delivered),
            canReturn: view.status == .delivered, cancelClosed: closed, actionKey: actionKey)
    }
}

struct DeliveriesModel: PageModel {
    struct Delivery {
        var id: String
        var bookTitle: String
        var customerId: String
        var address: String
        var status: String
        var canStart: Bool
        var canComplete: Bool
        var actionKey: String
    }

    var deliveries: [Delivery]
    /// Stored: templates see stored properties only (Mirror).
    var hasDeliveries: Bool
}

struct AlertsModel: PageModel {
    struct Alert {
        var kind: String
        var customerId: String?
        var message: String
        var createdAt: String
        var createdAtText: String
    }

    var alerts: [Alert]
    /// Stored: templates see stored properties only (Mirror).
    var hasAlerts: Bool
    var nextHref: String?
}

struct OperationsModel: PageModel {
    struct GroupRow {
        var stream: String
        var length: Int
        var group: String
        var consumers: String
        var pending: String
        var lag: String
    }

    struct DeadLetterStream {
        struct Entry {
            var id: String
            var type: String
            var error: String
            var attempts: String
        }

        var name: String
        var length: Int
        var entries: [Entry]
    }

    struct Pool {
        var name: String
        var breaker: String
        var ready: Int
        var instances: Int
        var inFlight: Int
        /// The adaptive concurrency limit now.
        var limit: Int
    }

    struct RejectionCount {
        var reason: String
        var pool: String
        var count: Int
    }

    var refreshSeconds: String
    var readAt: String
    var readAtText: String
    var streamsProblem: String?
    var groupRows: [GroupRow]
    /// As `bookdelivery streams` says them: entries the hard cap removed, events relays set aside.
    var capTrimmed: String
    var setAside: String
    var deadLetters: [DeadLetterStream]
    /// Stored: templates see stored properties only (Mirror).
    var hasDeadLetters: Bool
    var pools: [Pool]
    var rejections: [RejectionCount]
    /// Stored: templates see stored properties only (Mirror).
    var hasRejections: Bool
}
