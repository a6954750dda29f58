import AnthropicProvider
import ArgumentParser
import AsyncHTTPClient
import CostModel
import Foundation
import NIOCore
import NIOHTTP1
import Simulator

/// Decoding and normalizing a recorded 31-day Anthropic page: the bytes are
/// fetched once from the simulator over HTTP, then decoded repeatedly.
struct DecodeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode", abstract: "Decode + normalize a recorded 31-day Anthropic page of 2,000 lines a day.")

    @Option(help: "Lines a day.") var lines = 2000
    @Option(help: "Times to decode the page.") var rounds = 5

    func run() async throws {
        let today = Day("2026-03-31")!
        let world = SimulatorWorld(seed: 7, today: today, anthropicOrgs: [SimAnthropicOrg(name: "bench", linesPerDay: lines, workspaces: 40)])
        let key = world.anthropicOrgs[0].adminKey
        let simulator = try await ProviderSimulator.start(world: world)
        let first = today.advanced(by: -30)
        var request = HTTPClientRequest(url: simulator.baseURL + "/v1/organizations/cost_report?starting_at=\(first.startTimestamp)"
            + "&ending_at=\(today.advanced(by: 1).startTimestamp)&group_by%5B%5D=workspace_id&group_by%5B%5D=description&bucket_width=1d&limit=31")
        request.headers.add(name: "x-api-key", value: key)
        request.headers.add(name: "anthropic-version", value: "2023-06-01")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let body = Array(try await response.body.collect(upTo: 512 << 20).readableBytesView)
        try await simulator.shutdown()

        var best = 0.0
        var decoded = 0
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            let page = try AnthropicCostReport.decodePage(body)
            let elapsed = ContinuousClock.now - start
            decoded = page.days.reduce(0) { $0 + $1.lines.count }
            best = max(best, rate(decoded, elapsed))
        }
        print("page: \(body.count / 1_048_576) MiB, \(decoded) lines over 31 days")
        print("decode: \(Int(best)) lines/s (decode + normalize, best of \(rounds); target 250000 lines/s)")
    }
}
