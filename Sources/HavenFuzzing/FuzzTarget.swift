import Foundation
import HavenConfig
import HavenCore
import HavenDaemon
import HavenPluginAPI
import HavenProto
import HavenReferrals
import HavenReferralsProto
import HavenReporting
import HavenReportingProto
import HavenRPCServer
import HavenScreening
import HavenScreeningProto
import HavenWire
import NIOCore
import NIOEmbedded
import SwiftProtobuf

/// What the fuzzers attack: each target takes arbitrary bytes, hands them
/// to one of havend's parsers, and must return — a crash, a hang or an
/// assertion is a bug. The libFuzzer executables in Fuzz/ call these, and
/// the test suite replays every seed and every past crash through them
/// (Fuzz/corpus/TARGET, Fuzz/regressions/TARGET).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Frames and the per-connection stream state machine, bytes as a client sends them.
    case frames
    /// The payload of a call, decoded as each method's request message.
    case requests
    /// OneRoster CSV files (orgs, users, enrollments, demographics).
    case oneroster
    /// Instrument documents: FHIR Questionnaires with Haven's scoring rules.
    case questionnaire
    /// Routing-rule files (TOML).
    case routingRules = "routing-rules"
    /// havend.toml.
    case config
    /// A node's push: every row checked against its table's columns.
    case syncRows = "sync-rows"

    public func run(_ bytes: [UInt8]) {
        switch self {
        case .frames: FrameFuzzing.run(bytes)
        case .requests: RequestFuzzing.run(bytes)
        case .oneroster: _ = OneRosterFuzzEntry.validate(Self.files(bytes))
        case .questionnaire: _ = InstrumentFuzzEntry.parse(bytes)
        case .routingRules: _ = RoutingRulesFuzzEntry.parse(String(decoding: bytes, as: UTF8.self))
        case .config: ConfigFuzzing.run(String(decoding: bytes, as: UTF8.self))
        case .syncRows: _ = SyncFuzzEntry.check(bytes)
        }
    }

    /// Splits a multi-file input: a line `--- NAME` starts the file NAME.
    /// Without one, all bytes are users.csv beside a valid orgs.csv.
    static func files(_ bytes: [UInt8]) -> [String: [UInt8]] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("--- ") else {
            return ["orgs.csv": Array("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nsch-1,active,,School One,school,,\n".utf8),
                    "users.csv": bytes]
        }
        var files: [String: [UInt8]] = [:]
        for part in text.components(separatedBy: "--- ").dropFirst() {
            let name = String(part.prefix { $0 != "\n" })
            files[name] = Array(part.drop { $0 != "\n" }.dropFirst().utf8)
        }
        return files
    }
}

/// Decodes the payload as the request message of a method (the first byte
/// picks which) and checks that what decodes survives a round trip.
public enum RequestFuzzing {
    /// Every method's request type. `FuzzCorpusTests` fails when a method
    /// Describe lists takes a type missing here.
    public static let requestTypes: [any SwiftProtobuf.Message.Type] = [
        Haven_Referrals_V1_AddExternalRequest.self,
        Haven_Referrals_V1_AssignReferralRequest.self,
        Haven_Referrals_V1_ClearDutyRequest.self,
        Haven_Referrals_V1_CloseReferralRequest.self,
        Haven_Referrals_V1_ExplainRoutingRequest.self,
        Haven_Referrals_V1_GetReferralRequest.self,
        Haven_Referrals_V1_ListReferralsRequest.self,
        Haven_Referrals_V1_ListRulesRequest.self,
        Haven_Referrals_V1_ReferralActionRequest.self,
        Haven_Referrals_V1_ReloadRulesRequest.self,
        Haven_Referrals_V1_SetDutyRequest.self,
        Haven_Referrals_V1_ShowDutyRequest.self,
        Haven_Referrals_V1_UpdateExternalRequest.self,
        Haven_Reports_V1_ListReportsRequest.self,
        Haven_Reports_V1_RunReportRequest.self,
        Haven_Screening_V1_AnnotateRequest.self,
        Haven_Screening_V1_AnswerRequest.self,
        Haven_Screening_V1_AttachRulesRequest.self,
        Haven_Screening_V1_ExportResponseRequest.self,
        Haven_Screening_V1_GetAdministrationRequest.self,
        Haven_Screening_V1_GetConsentRequest.self,
        Haven_Screening_V1_GetInstrumentRequest.self,
        Haven_Screening_V1_ImportInstrumentRequest.self,
        Haven_Screening_V1_ListAdministrationsRequest.self,
        Haven_Screening_V1_ListInstrumentsRequest.self,
        Haven_Screening_V1_ScoreRequest.self,
        Haven_Screening_V1_SetConsentRequest.self,
        Haven_Screening_V1_StartRequest.self,
        Haven_Screening_V1_SubmitRequest.self,
        Haven_V1_AddNoteRequest.self,
        Haven_V1_AddStaffRequest.self,
        Haven_V1_AmendConcernRequest.self,
        Haven_V1_AuditLogRequest.self,
        Haven_V1_CaseloadRequest.self,
        Haven_V1_CloseConcernRequest.self,
        Haven_V1_CreateConcernRequest.self,
        Haven_V1_CreateGrantRequest.self,
        Haven_V1_CreateTokenRequest.self,
        Haven_V1_DeactivateStaffRequest.self,
        Haven_V1_DescribeRequest.self,
        Haven_V1_EmergencyAccessRequest.self,
        Haven_V1_ExplainRequest.self,
        Haven_V1_FindStudentsRequest.self,
        Haven_V1_GetConcernRequest.self,
        Haven_V1_GetStaffRequest.self,
        Haven_V1_GetStudentRequest.self,
        Haven_V1_GetTimelineRequest.self,
        Haven_V1_HealthRequest.self,
        Haven_V1_HelloRequest.self,
        Haven_V1_ImportRequest.self,
        Haven_V1_LinkUidRequest.self,
        Haven_V1_ListCaseloadRequest.self,
        Haven_V1_ListConcernsRequest.self,
        Haven_V1_ListGrantsRequest.self,
        Haven_V1_ListNotificationsRequest.self,
        Haven_V1_ListPluginsRequest.self,
        Haven_V1_ListStaffRequest.self,
        Haven_V1_ListTokensRequest.self,
        Haven_V1_MarkReadRequest.self,
        Haven_V1_MatrixRequest.self,
        Haven_V1_RevokeGrantRequest.self,
        Haven_V1_RevokeTokenRequest.self,
        Haven_V1_SetRolesRequest.self,
        Haven_V1_SetSchoolsRequest.self,
        Haven_V1_SetStatusRequest.self,
        Haven_V1_StageFileRequest.self,
        Haven_V1_SubscribeRequest.self,
        Haven_V1_TaxonomyRequest.self,
        Haven_V1_VerifyAuditRequest.self,
        Haven_V1_DecideNodeRequest.self,
        Haven_V1_EnrollRequest.self,
        Haven_V1_ListNodesRequest.self,
        Haven_V1_NodeIdentityRequest.self,
        Haven_V1_PullRequest.self,
        Haven_V1_PushRequest.self,
        Haven_V1_RegisterNodeRequest.self,
        Haven_V1_SyncNowRequest.self,
        Haven_V1_SyncStatusRequest.self
    ]

    static func run(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let type = requestTypes[Int(selector) % requestTypes.count]
        let payload = Array(bytes.dropFirst())
        guard let message = try? type.init(serializedBytes: payload) else { return }
        // What decoded must encode, and decode again to the same message.
        let encoded: [UInt8] = try! message.serializedBytes()
        let again = try! type.init(serializedBytes: encoded)
        precondition(again.isEqualTo(message: message), "\(type.protoMessageName) changed in a round trip")
    }
}

/// One connection's handler on an embedded channel: the input arrives in
/// chunks (the first byte sets their size), as a client might split it.
enum FrameFuzzing {
    struct Dispatcher: RPCDispatcher {
        func route(service: String, method: String) -> RoutedMethod {
            switch method {
            case "Echo": .unary({ call in call.payload }, .onEventLoop)
            case "Fail": .unary({ _ in throw RPCError.invalidArgument("fuzz") }, .onEventLoop)
            default: .reject(.unimplemented("no \(service)/\(method)"))
            }
        }
    }

    static let limits = ServerLimits(maxFrameDataLength: 1 << 16, maxConcurrentCallsPerConnection: 4)

    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let chunk = Int(first % 32) + 1
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionFuzzEntry.handler(dispatcher: Dispatcher(), limits: limits))
            try channel.connect(to: SocketAddress(unixDomainSocketPath: "/fuzz")).wait()
            var offset = 1
            while offset < bytes.count, channel.isActive {
                let end = min(offset + chunk, bytes.count)
                try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
                channel.embeddedEventLoop.run()
                while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
                offset = end
            }
        } catch {
            // A closed connection or a refused frame is an answer, not a failure.
        }
    }
}

/// havend.toml through the daemon's own reader, with every plugin known.
enum ConfigFuzzing {
    static let plugins: [any HavenPlugin] = [ScreeningPlugin(), ReferralsPlugin(), ReportingPlugin()]

    static func run(_ text: String) {
        guard let document = try? ConfigDocument(text: text, name: "fuzz.toml") else { return }
        _ = try? DaemonConfiguration.parse(
            document, overrides: CommandLineOverrides(socketPath: "/run/fuzz.sock", dataDirectory: "/var/lib/fuzz"),
            plugins: plugins, environment: [:])
    }
}
