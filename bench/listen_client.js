#!/usr/bin/env node
// A Node listener for bench/send_listen.py: the npm `ws` package (from tests/js/node_modules),
// perMessageDeflate off, reading a graph's output as `flowpy listen` does, as fast as Node can.
//
//   node bench/listen_client.js '{"url": "ws://127.0.0.1:PORT", "graph": "bench", "count": N}'
//
// It prints {"ready": true} once connected, then counts runtime:packet data events of `graph`
// until `count` arrived, and prints {"ok": true, "count": N}. Any *:error message, a close or
// 60 s without a message fail it: exit status 1 and {"ok": false, "error": ...}.
"use strict";

const path = require("path");
const { createRequire } = require("module");

const requireTests = createRequire(path.join(__dirname, "..", "tests", "js", "package.json"));
const WebSocket = requireTests("ws");

const config = JSON.parse(process.argv[2] || "{}");

function finish(result, status) {
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(status);
}

const ws = new WebSocket(config.url, "noflo", { perMessageDeflate: false });
let seen = 0;
let last = Date.now();
ws.on("open", () => process.stdout.write(JSON.stringify({ ready: true }) + "\n"));
ws.on("message", (data) => {
  last = Date.now();
  const msg = JSON.parse(data.toString());
  if (msg.command === "error") finish({ ok: false, error: JSON.stringify(msg.payload) }, 1);
  const p = msg.payload || {};
  if (msg.command === "packet" && p.graph === config.graph && p.event === "data") {
    seen += 1;
    if (seen === config.count) finish({ ok: true, count: seen }, 0);
  }
});
ws.on("close", (code) => finish({ ok: false, error: `closed (${code}) after ${seen}` }, 1));
ws.on("error", (e) => finish({ ok: false, error: e.message }, 1));
setInterval(() => {
  if (Date.now() - last > 60000) finish({ ok: false, error: `stalled after ${seen}` }, 1);
}, 1000).unref();
