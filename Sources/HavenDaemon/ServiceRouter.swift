import HavenPluginAPI
import HavenRPCServer
import HavenStorage
import HavenWire
import Logging

/// Routes each call to the handler of a running service, or explains why it
/// can't: an unknown service or method, or a plugin that is disabled or failed.
/// It resolves the caller and applies the method's access rule before the
/// handler runs.
final class ServiceRouter: RPCDispatcher {
    private struct Route {
        let pluginID: String
        let method: MethodDefinition
    }

    private let routes: [String: [String: Route]]
    private let unavailable: [String: RPCError]
    private let resolver: any CallerResolver
    private let logger: Logger

    init(services: [(pluginID: String, service: ServiceDefinition)], unavailable: [String: RPCError], resolver: any CallerResolver, logger: Logger) {
        var routes: [String: [String: Route]] = [:]
        for (pluginID, service) in services {
            for method in service.methods {
                routes[service.name, default: [:]][method.name] = Route(pluginID: pluginID, method: method)
            }
        }
        self.routes = routes
        self.unavailable = unavailable
        self.resolver = resolver
        self.logger = logger
    }

    func route(service: String, method: String) -> RoutedMethod {
        guard let methods = routes[service] else {
            if let error = unavailable[service] { return .reject(error) }
            return .reject(.unimplemented("unknown service \"\(service)\"; Daemon/Describe (haven call --list) lists the services this daemon serves"))
        }
        guard let route = methods[method] else {
            return .reject(.unimplemented("\(service) has no method \"\(method)\"; it has \(methods.keys.sorted().joined(separator: ", "))"))
        }
        let definition = route.method
        switch definition.handler {
        case .unary(let handler):
            let run: @Sendable (ServerCall) async throws -> [UInt8] = { [self] call in
                let context = try await self.context(for: call, definition)
                return try await Self.reportingStorageFaults { try await handler(call.payload, context) }
            }
            if let immediate = definition.immediate {
                return .unary(run, .immediateWhenPossible({ [self] call in
                    // A caller not cached, or refused (the refusal is audited), goes the ordinary way.
                    guard let caller = self.resolver.cachedCaller(call), definition.access.allows(caller) else { return nil }
                    return try immediate(call.payload, CallContext(call: call, caller: caller, logger: self.logger))
                }))
            }
            return .unary(run, definition.runsOnEventLoop ? .onEventLoop : .task)
        case .serverStreaming(let handler):
            return .serverStreaming { [self] call, writer in
                let context = try await self.context(for: call, definition)
                try await Self.reportingStorageFaults { try await handler(call.payload, context, writer) }
            }
        }
    }

    /// A full, read-only or failing disk reaches the caller as a status that
    /// says so (RESOURCE_EXHAUSTED for a full disk, UNAVAILABLE otherwise),
    /// not as an internal error.
    private static func reportingStorageFaults<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let fault as StorageFault {
            throw RPCError(fault.kind == .diskFull ? .resourceExhausted : .unavailable, fault.description)
        }
    }

    private func context(for call: ServerCall, _ definition: MethodDefinition) async throws -> CallContext {
        let caller = try await resolver.resolve(call)
        guard definition.access.allows(caller) else {
            let reason = caller.staffID == nil
                ? "\(call.fullMethod) needs a staff account: \(caller.accountNote ?? "this caller is not linked to one")"
                : "\(call.fullMethod) is open to \(definition.access.summary); your roles are \(caller.roles.sorted().map(\.rawValue).joined(separator: ", "))"
            await resolver.recordDenial(call, caller: caller, reason: reason)
            throw RPCError.permissionDenied(reason)
        }
        return CallContext(call: call, caller: caller, logger: logger)
    }
}
