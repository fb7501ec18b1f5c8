import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import ServiceKit
import Tracing

/// Serves the public API's requests in the connection's pipeline, ahead of Hummingbird's router:
/// the request is collected here, ``PublicAPI/exchange(_:through:)`` runs in a task on the
/// connection's event loop, and the answer is written here, in one flush. The gateway's own routes
/// (probes, metrics, the web app, the OpenAPI document) pass on to Hummingbird as they came.
///
/// Why: the gateway forwards, so what a request costs it is mostly the HTTP stack's own work, and
/// Hummingbird's part of that (the request parts through an async sequence, the body's iterator, the
/// router and its middleware chain, a logger and a context per request, the answer through an async
/// writer, one hop per part) was a sixth of the gateway's CPU: 0.45 → 0.38 CPU-s per 1,000
/// requests at 400/s with this handler (`bookdelivery load`, alternating runs).
/// The work of the API itself (route, token, rate limit, load shedding, breaker, fallbacks,
/// metrics, the server span) stays in ``PublicAPI`` and is the same on either path:
/// ``GatewayMiddleware`` still serves it where this handler is not in the pipeline (the router's
/// tests, which have no channel). Rejected: the whole API as `EventLoopFuture`s without a task per
/// request (its token check, load shedder and fallbacks are async; a second copy of them would be
/// the one that drifts).
///
/// It sits after Hummingbird's `HTTPConnectionStateHandler`, which therefore sees every request: it
/// keeps a connection open while one is in hand and closes an idle one. Hummingbird's pipeline has
/// no pipelining handler (its request loop orders the answers of its own requests), so this one
/// keeps the order across both paths: while a request is in hand (its exchange here, or the
/// router's answer not yet written), the parts of the next ones wait here and the socket is read no
/// further, as a client that pipelines expects.
final class APIChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A request of the gateway's own, going on to Hummingbird, until its end has gone on and
        /// its answer's end has come back.
        case passing(requestEnded: Bool, answered: Bool)
        /// An API request whose body is coming; at most one byte more than any route takes is kept,
        /// so that the route's limit answers 413 in its turn (after the token and the rate limit).
        case collecting(HTTPRequest, body: ByteBuffer?)
        /// An API request turned away unread while the loop is too busy (``LoopPressure``): its body is
        /// dropped, and at its end the 503 goes out.
        case turningAway(PublicAPI.Answer, closing: Bool)
        case exchanging
    }

    private let api: PublicAPI
    private let pressure: LoopPressure?
    private let executor: EventLoopExecutor
    private var state = State.idle
    /// The next requests' parts, come while one was in hand.
    private var waiting = CircularBuffer<HTTPRequestPart>()
    /// A read asked for while a request was in hand, done when it is answered.
    private var readHeld = false
    private var isClosed = false

    init(api: PublicAPI, pressure: LoopPressure?, eventLoop: any EventLoop) {
        self.api = api
        self.pressure = pressure
        self.executor = EventLoopExecutor(eventLoop)
    }

    /// Whether a request is in hand whose answer has not gone out.
    private var isBusy: Bool {
        switch state {
        case .exchanging: true
        case .passing(let requestEnded, let answered): requestEnded && !answered
        case .idle, .collecting, .turningAway: false
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if isBusy || !waiting.isEmpty {
            waiting.append(part)
        } else {
            take(part, context: context)
        }
    }

    /// While a request is in hand, one read more goes through: a client that waits for its answer
    /// (most do) sends nothing meanwhile, and its socket keeps its read interest. Holding every read
    /// took the interest away and gave it back, two `epoll_ctl` calls per request (1.5 % of the
    /// gateway's CPU). What that read brings waits here, and the read after it is held, so a client
    /// that pipelines is still read no further than one read ahead.
    func read(context: ChannelHandlerContext) {
        if isBusy && !waiting.isEmpty { readHeld = true } else { context.read() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only the router's answers pass here: this handler's own go out from its context.
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data), case .passing(let requestEnded, _) = state else { return }
        state = requestEnded ? .idle : .passing(requestEnded: false, answered: true)
        if case .idle = state { resume(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        waiting.removeAll()
        context.fireChannelInactive()
    }

    /// Handles `part` by the state; returns whether it went on to the router.
    @discardableResult
    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) -> Bool {
        switch (state, part) {
        case (.idle, .head(let head)):
            let path = head.path.map { Self.split($0).path } ?? ""
            if PublicAPI.isOwn(path) {
                state = .passing(requestEnded: false, answered: false)
            } else if let pressure, pressure.turnsAway(), let busy = api.busy(head.method, path: path, headers: head.headerFields) {
                state = .turningAway(busy, closing: Self.closes(head))
                return false
            } else {
                state = .collecting(head, body: nil)
                return false
            }
        case (.passing(_, let answered), .end):
            state = answered ? .idle : .passing(requestEnded: true, answered: false)
        case (.collecting(let head, var body), .body(var chunk)):
            let room = RouteTable.maximumBody + 1 - (body?.readableBytes ?? 0)
            if room > 0 {
                if chunk.readableBytes > room { chunk = chunk.getSlice(at: chunk.readerIndex, length: room)! }
                if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            }
            state = .collecting(head, body: body)
            return false
        case (.turningAway, .body):
            return false
        case (.turningAway(let answer, let closing), .end):
            state = .exchanging
            respond(answer, closing: closing, context: context)
            return false
        case (.collecting(let head, let body), .end):
            state = .exchanging
            exchange(head, body: body, context: context)
            return false
        default:
            // The router's request's body, or a part out of turn (NIO's decoder sends none), which
            // Hummingbird refuses.
            break
        }
        context.fireChannelRead(wrapInboundOut(part))
        return true
    }

    /// Once a request is answered: the waiting parts, then reading again.
    private func resume(context: ChannelHandlerContext) {
        var passedOn = false
        while !isBusy, let part = waiting.popFirst() {
            passedOn = take(part, context: context) || passedOn
        }
        // Hummingbird's channel hands on what it was given at the end of a read.
        if passedOn { context.fireChannelReadComplete() }
        if !isBusy && readHeld {
            readHeld = false
            context.read()
        }
    }

    private func exchange(_ head: HTTPRequest, body: ByteBuffer?, context: ChannelHandlerContext) {
        let target = head.path ?? "/"
        let (path, query) = Self.split(target)
        let call = PublicAPI.Call(
            method: head.method, path: path, query: query, headers: head.headerFields, body: .buffer(body ?? ByteBuffer()),
            clientAddress: context.channel.remoteAddress?.ipAddress)
        let closes = Self.closes(head)
        let (api, executor, loop) = (api, executor, context.eventLoop)
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task(executorPreference: executor) { @Sendable in
            let answer = await Self.answer(call, by: api)
            // The task ends on the loop, its executor, unless what it awaited kept it elsewhere:
            // then the answer goes over to the loop. (Rejected: a promise, completed here and
            // answered in its callback, which cost an allocation and a callback per request.)
            guard loop.inEventLoop else {
                return loop.execute {
                    let (handler, context) = bound.value
                    handler.respond(answer, closing: closes, context: context)
                }
            }
            let (handler, context) = bound.value
            handler.respond(answer, closing: closes, context: context)
        }
    }

    /// Writes `answer` in one flush. (To `HEAD`, NIO's encoder sends the head alone.)
    private func respond(_ answer: PublicAPI.Answer, closing: Bool, context: ChannelHandlerContext) {
        state = .idle
        guard !isClosed else { return }
        defer { if !closing { resume(context: context) } }
        var fields = answer.headers
        fields[.contentLength] = String(answer.body.readableBytes)
        fields[.server] = GatewayApplication.name
        if fields.value(.date) == nil { fields[.date] = HTTPDate.now() }
        if closing { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: fields))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(answer.body)), promise: nil) }
        if closing {
            waiting.removeAll()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private static func closes(_ head: HTTPRequest) -> Bool { head.headerFields.value(.connection)?.lowercased() == "close" }

    static func split(_ target: String) -> (path: String, query: String?) {
        guard let mark = target.firstIndex(of: "?") else { return (target, nil) }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }

    private static func answer(_ call: PublicAPI.Call, by api: PublicAPI) async -> PublicAPI.Answer {
        guard ServiceTracing.isEnabled else { return await api.exchange(call) }
        return await traced(call, by: api)
    }

    /// The server span Hummingbird's `TracingMiddleware` makes on the router's path: the caller's
    /// `traceparent` continued, named by ``PublicAPI`` once it has matched the route.
    private static func traced(_ call: PublicAPI.Call, by api: PublicAPI) async -> PublicAPI.Answer {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(call.headers, into: &parent, using: HTTPFieldsExtractor())
        return await withSpan("HTTP \(call.method.rawValue) route not found", context: parent, ofKind: .server) { span in
            span.attributes["http.request.method"] = call.method.rawValue
            span.attributes["url.path"] = call.path
            let answer = await api.exchange(call)
            span.attributes["http.response.status_code"] = Int(answer.status.code)
            if answer.status.code >= 500 { span.setStatus(.init(code: .error)) }
            return answer
        }
    }
}

/// Reads a trace context's headers (`traceparent`, `tracestate`) from a request.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from headers: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { headers[$0] }
    }
}
