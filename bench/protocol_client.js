#!/usr/bin/env node
// The client of bench/protocol.py: one connection, one measurement, one JSON line on stdout.
//
//   node bench/protocol_client.js '{"url": "ws://127.0.0.1:PORT", "target": "flowpy", ...}'
//
// It is the npm `ws` package (from tests/js/node_modules) with its default options, so it offers
// permessage-deflate exactly as browsers (and so noflo-ui) do; `"deflate": false` passes
// `perMessageDeflate: false` instead. Configuration (one JSON argument):
//
//   url      the runtime's WebSocket URL (subprotocol "noflo")
//   target   "flowpy": build the graph over the protocol, start the network, measure, stop it;
//            "echo": the echo baseline of bench/protocol.py, which answers every
//            runtime:packet with a packetsent and an output packet, as flowpy does
//   deflate  true: ws defaults (offers permessage-deflate); false: perMessageDeflate: false
//   debug    flowpy only. true: network:debug on, and network:edges with no edge (debug is on
//            but nobody is subscribed to any edge); false: network:debug {enable: false}
//   chain    number of core/Repeat nodes between the exported inport and outport
//   count    workload A: data packets sent
//   window   workload A: packets sent but not yet acknowledged by runtime:packetsent
//   trips    workload B: lock-step round trips
//
// Workload A ends when all `count` output runtime:packet data events and all `count`
// runtime:packetsent have arrived. Workload B sends one packet, waits for its output and its
// packetsent, then sends the next. Outputs must arrive in order with the payloads sent, and
// every packet must get exactly one packetsent; anything else (or any *:error message, or a
// debug message while nobody is subscribed) fails the run: exit status 1 and
// {"ok": false, "error": ...}. On success: {"ok": true, "extensions": <negotiated>,
// "throughput": {"count", "seconds", "server_cpu"}, "latency_ms": [one per trip]}. With
// config.server_pid (a local process, Linux), server_cpu is that process's CPU seconds over
// the stream alone (its first send to its last reply), read from /proc at those two instants
// to the nanosecond (/proc/PID/stat counts 10 ms ticks); 0 without it.
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const requireTests = createRequire(path.join(__dirname, "..", "tests", "js", "package.json"));
const WebSocket = requireTests("ws");

const GRAPH = "bench";
const STALL_MS = 60000; // no message for this long while waiting for one: fail

const config = JSON.parse(process.argv[2] || "{}");

function now() {
  return performance.now();
}

function fail(error) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error) }) + "\n");
  process.exit(1);
}

// Frames are written by hand: the client must not be what is measured.
function packetFrame(n) {
  return (
    '{"protocol":"runtime","command":"packet","payload":' +
    `{"graph":"${GRAPH}","port":"in","event":"data","payload":${n}}}`
  );
}

class Session {
  constructor(ws) {
    this.ws = ws;
    this.handler = null; // the current phase's message handler
    this.lastMessage = now();
    ws.on("message", (data, isBinary) => {
      this.lastMessage = now();
      if (isBinary) return fail("unexpected binary frame");
      let msg;
      try {
        msg = JSON.parse(data.toString());
      } catch (e) {
        return fail(`not JSON: ${data.toString().slice(0, 200)}`);
      }
      if (msg.command === "error" || msg.command === "processerror") {
        return fail(`${msg.protocol}:${msg.command} ${JSON.stringify(msg.payload)}`);
      }
      if (this.handler) this.handler(msg);
    });
    ws.on("close", (code) => fail(`connection closed (${code})`));
    ws.on("error", (e) => fail(`connection error: ${e.message}`));
    const watchdog = setInterval(() => {
      if (this.handler && now() - this.lastMessage > STALL_MS) {
        fail(`no message for ${STALL_MS / 1000} s: ${this.describe ? this.describe() : ""}`);
      }
    }, 1000);
    watchdog.unref();
  }

  send(protocol, command, payload) {
    this.ws.send(JSON.stringify({ protocol, command, payload }));
  }

  // Send a command and resolve with the first message that is `protocol:expect`.
  request(protocol, command, payload, expect = command) {
    return new Promise((resolve) => {
      this.describe = () => `waiting for ${protocol}:${expect}`;
      this.handler = (msg) => {
        if (msg.protocol === protocol && msg.command === expect) {
          this.handler = null;
          resolve(msg);
        }
      };
      this.send(protocol, command, payload);
    });
  }

  // The handler of both workloads: counts outputs and packetsents against what was sent.
  track(onOutput, onSent) {
    this.handler = (msg) => {
      const p = msg.payload || {};
      if (msg.protocol === "runtime" && msg.command === "packet" && p.port === "out") {
        if (p.event === "data") onOutput(p.payload);
        // connect/disconnect of the exported port: not data
      } else if (msg.protocol === "runtime" && msg.command === "packetsent") {
        if (p.port !== "in" || p.event !== "data") {
          return fail(`unexpected packetsent ${JSON.stringify(p)}`);
        }
        onSent(p.payload);
      } else if (msg.protocol === "network" && msg.command !== "status") {
        // With debug off or no edge subscribed, no edge event may reach this client.
        return fail(`unexpected ${msg.protocol}:${msg.command} (nobody subscribed)`);
      }
    };
  }
}

// Packets n = first, first + 1, ...: exactly one packetsent each, outputs in order.
class Ledger {
  constructor(first, count) {
    this.first = first;
    this.count = count;
    this.acked = new Uint8Array(count);
    this.acks = 0;
    this.outputs = 0;
  }

  output(payload) {
    const expected = this.first + this.outputs;
    if (payload !== expected) {
      fail(`output ${this.outputs}: expected payload ${expected}, got ${JSON.stringify(payload)}`);
    }
    this.outputs += 1;
  }

  sent(payload, sentSoFar) {
    const i = payload - this.first;
    if (!Number.isInteger(payload) || i < 0 || i >= sentSoFar || this.acked[i]) {
      fail(`packetsent for ${JSON.stringify(payload)}: never sent, or acknowledged twice`);
    }
    this.acked[i] = 1;
    this.acks += 1;
  }

  done() {
    return this.outputs === this.count && this.acks === this.count;
  }
}

// CPU seconds the live threads of process `pid` have used (0 without a pid).
function cpuOf(pid) {
  if (!pid) return 0;
  let total = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch (e) {
      // a thread that ended meanwhile
    }
  }
  return total / 1e9;
}

// Workload A: keep `window` packets unacknowledged until `count` were sent;
// {seconds, serverCpu}.
function throughput(session, count, window) {
  return new Promise((resolve) => {
    const ledger = new Ledger(0, count);
    let sent = 0;
    let started = 0;
    const pump = () => {
      while (sent < count && sent - ledger.acks < window) {
        session.ws.send(packetFrame(sent));
        sent += 1;
      }
    };
    const check = () => {
      if (ledger.done()) {
        session.handler = null;
        const serverCpu = cpuOf(config.server_pid) - cpuAtStart;
        resolve({ seconds: (now() - started) / 1000, serverCpu });
      }
    };
    session.describe = () =>
      `throughput: sent ${sent}, packetsent ${ledger.acks}, outputs ${ledger.outputs}`;
    session.track(
      (payload) => {
        if (ledger.outputs >= count) fail("more outputs than packets sent");
        ledger.output(payload);
        check();
      },
      (payload) => {
        ledger.sent(payload, sent);
        pump();
        check();
      },
    );
    const cpuAtStart = cpuOf(config.server_pid);
    started = now();
    pump();
  });
}

// Workload B: `trips` lock-step round trips (packet out, its output and packetsent back); ms.
function latency(session, first, trips) {
  return new Promise((resolve) => {
    const ledger = new Ledger(first, trips);
    const times = [];
    let sent = 0;
    let started = 0;
    const next = () => {
      if (sent === trips) {
        session.handler = null;
        resolve(times);
        return;
      }
      started = now();
      session.ws.send(packetFrame(first + sent));
      sent += 1;
    };
    const check = () => {
      if (ledger.outputs === sent && ledger.acks === sent) {
        times.push(now() - started);
        next();
      }
    };
    session.describe = () =>
      `latency: trip ${sent}, packetsent ${ledger.acks}, outputs ${ledger.outputs}`;
    session.track(
      (payload) => {
        if (ledger.outputs >= sent) fail("an output for a packet not sent");
        ledger.output(payload);
        check();
      },
      (payload) => {
        ledger.sent(payload, sent);
        check();
      },
    );
    next();
  });
}

async function buildGraph(session, chain, debug) {
  const request = (command, payload) => session.request("graph", command, payload);
  await request("clear", { id: GRAPH, name: GRAPH });
  for (let i = 0; i < chain; i++) {
    await request("addnode", { graph: GRAPH, id: `repeat${i}`, component: "core/Repeat" });
  }
  for (let i = 0; i + 1 < chain; i++) {
    await request("addedge", {
      graph: GRAPH,
      src: { node: `repeat${i}`, port: "out" },
      tgt: { node: `repeat${i + 1}`, port: "in" },
    });
  }
  await request("addinport", { graph: GRAPH, public: "in", node: "repeat0", port: "in" });
  await request("addoutport", {
    graph: GRAPH, public: "out", node: `repeat${chain - 1}`, port: "out",
  });
  await session.request("network", "debug", { graph: GRAPH, enable: debug }, "status");
  if (debug) {
    // Debug on, but this client watches no edge: nobody is subscribed.
    await session.request("network", "edges", { graph: GRAPH, edges: [] });
  }
}

async function main() {
  const { url, target, count, window, trips } = config;
  const chain = config.chain || 10;
  const options = config.deflate === false ? { perMessageDeflate: false } : {};
  const ws = new WebSocket(url, "noflo", options);
  const session = new Session(ws); // fails the run on an error, before or after opening
  await new Promise((resolve) => ws.once("open", resolve));

  if (target === "flowpy") {
    await buildGraph(session, chain, Boolean(config.debug));
    await session.request("network", "start", { graph: GRAPH }, "started");
  } else if (target !== "echo") {
    fail(`unknown target ${target}`);
  }
  const { seconds, serverCpu } = await throughput(session, count, window);
  const times = await latency(session, count, trips);
  if (target === "flowpy") {
    await session.request("network", "stop", { graph: GRAPH }, "stopped");
  }
  process.stdout.write(
    JSON.stringify({
      ok: true,
      extensions: ws.extensions,
      throughput: { count, seconds, server_cpu: serverCpu },
      latency_ms: times,
    }) + "\n",
  );
  ws.removeAllListeners("close");
  ws.removeAllListeners("error");
  ws.on("error", () => {}); // the result is out: nothing can fail the run any more
  ws.close();
  setTimeout(() => process.exit(0), 5000).unref(); // a server that never answers the close
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
