#!/usr/bin/env node
// A stand-in FBP runtime for measuring protocol *clients*: it does almost nothing per packet,
// so the client under test, not the server, sets the pace (against `flowpy serve` every plain
// client runs at the server's speed, whichever client it is).
//
//   node bench/standin_runtime.js     -> prints "listening on ws://127.0.0.1:PORT" on stdout
//
// It is the npm `ws` package (tests/js/node_modules) with permessage-deflate off. One graph,
// "echo", exported inport "in" and outport "out", whose network is always running. Every
// runtime:packet is answered as flowpy answers it: a runtime:packetsent echoing graph, port,
// event and payload (with responseTo, if the client named its request), then the same event
// as a runtime:packet on "out" to every connection (flowpy too sends outputs to every
// client). A packet to another graph is treated the same (the Node bench client names its
// own). It answers runtime:getruntime and network:getstatus/start/stop too; any other command
// gets a <protocol>:error, so that no client waits for an answer. What one turn of the event
// loop writes to a socket goes out in one write (STANDIN_CORK=0: a write per message).
"use strict";

const path = require("path");
const { createRequire } = require("module");

const requireTests = createRequire(path.join(__dirname, "..", "tests", "js", "package.json"));
const { WebSocketServer } = requireTests("ws");

const GRAPH = "echo";
const PORTS = {
  graph: GRAPH,
  inPorts: [{ id: "in", type: "all", addressable: false, required: false }],
  outPorts: [{ id: "out", type: "all", addressable: false, required: false }],
};

function reply(msg, command, payload, protocol = msg.protocol) {
  const out = { protocol, command, payload };
  if (msg.requestId !== undefined) out.responseTo = msg.requestId;
  return JSON.stringify(out);
}

function status(graph) {
  return { graph, running: true, started: true, debug: false };
}

// protocol:command -> [texts for the sender, texts for every connection]
const HANDLERS = {
  "runtime:getruntime": (msg) => [
    [
      reply(msg, "runtime", {
        type: "flowpy-standin",
        version: "0.7",
        capabilities: ["protocol:runtime", "protocol:network"],
        allCapabilities: ["protocol:runtime", "protocol:network"],
        graph: GRAPH,
      }),
      reply(msg, "ports", PORTS),
    ],
    [],
  ],
  "network:getstatus": (msg) => [[reply(msg, "status", status(msg.payload.graph))], []],
  "network:start": (msg) => [[reply(msg, "started", status(msg.payload.graph))], []],
  "network:stop": (msg) => [
    [reply(msg, "stopped", { ...status(msg.payload.graph), running: false })],
    [],
  ],
  "runtime:packet": (msg) => {
    const p = msg.payload;
    const echo = { graph: p.graph, port: p.port, event: p.event };
    if ("payload" in p) echo.payload = p.payload;
    const output = { protocol: "runtime", command: "packet", payload: { ...echo, port: "out" } };
    return [[reply(msg, "packetsent", echo)], [JSON.stringify(output)]];
  },
};

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has("noflo") ? "noflo" : false),
});

// What one turn of the event loop writes to a socket goes out in one write.
const corked = new Set();
function write(ws, text) {
  if (!corked.has(ws) && process.env.STANDIN_CORK !== "0") {
    if (corked.size === 0) {
      setImmediate(() => {
        for (const each of corked) each._socket.uncork();
        corked.clear();
      });
    }
    corked.add(ws);
    ws._socket.cork();
  }
  ws.send(text);
}

server.on("connection", (ws) => {
  ws.on("message", (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      write(ws, JSON.stringify({ protocol: "runtime", command: "error", payload: { message: "not JSON" } }));
      return;
    }
    const handler = HANDLERS[`${msg.protocol}:${msg.command}`];
    const [own, all] = handler
      ? handler(msg)
      : [[reply(msg, "error", { message: `the stand-in has no ${msg.protocol}:${msg.command}` })], []];
    for (const text of own) write(ws, text);
    for (const text of all) {
      for (const other of server.clients) if (other.readyState === 1) write(other, text);
    }
  });
  ws.on("error", () => {});
});

server.on("listening", () => {
  process.stdout.write(`listening on ws://127.0.0.1:${server.address().port}\n`);
});
