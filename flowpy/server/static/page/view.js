/* The live view of a flowpy runtime: an FBP Network Protocol client of the runtime's own
 * WebSocket (subprotocol "noflo"), so it sees and may do exactly what its secret allows.
 *
 * It asks runtime:getruntime (capabilities), component:list (the ports of each component),
 * component:getsource of each graph (the graph's JSON), and flowpy:stats (the live counts,
 * pushed once a second while this page is open). The drawing is laid out by ELK's layered,
 * port-aware algorithm (vendored elkjs). Edge inspection is network:edges + network:data,
 * as any client does it. No framework, no build step: plain DOM and SVG.
 */
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const STATS_INTERVAL = 1000;
  const KEPT_IPS = 20;
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null, requestId: 0, secret: sessionStorage.getItem("flowpy-secret") || "",
    capabilities: [], runtime: {}, graphs: {}, order: [], selected: null,
    sources: {}, components: {}, componentsReady: false, drawn: null,
    previous: {}, inspected: null, ips: [],
  };
  /** Timings the browser tests read (ms to lay out and draw the selected graph). */
  window.flowpyView = { drawMs: null, layoutMs: null, draws: 0, stats: 0 };

  const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
  $("ws-url").textContent = wsUrl;
  $("fbp-client-hint").textContent =
    `fbpClient({address: "${wsUrl}", protocol: "websocket", secret: "…"})`;
  $("secret").value = state.secret;
  fetch("/", { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((status) => {
      $("version").textContent = `flowpy ${status.flowpy} · FBP protocol ${status.version}`;
    })
    .catch(() => {});

  function say(text) { $("messages").textContent = text; }

  function send(protocol, command, payload) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    const message = { protocol, command, payload: payload || {}, requestId: `v${++state.requestId}` };
    if (state.secret) message.secret = state.secret;
    state.ws.send(JSON.stringify(message));
  }

  const may = (...caps) => caps.some((c) => state.capabilities.includes(c));

  // -- connection ---------------------------------------------------------------------------
  function connect() {
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    const status = $("connection");
    status.textContent = "connecting…"; status.className = "connection";
    const ws = new WebSocket(wsUrl, "noflo");
    state.ws = ws;
    ws.onopen = () => {
      status.textContent = "connected"; status.className = "connection ok";
      send("runtime", "getruntime", {});
    };
    ws.onclose = () => {
      status.textContent = "disconnected (reload to reconnect)"; status.className = "connection bad";
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      const handler = HANDLERS[`${message.protocol}:${message.command}`];
      if (handler) handler(message.payload || {}, message);
    };
  }

  $("secret-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.secret = $("secret").value;
    sessionStorage.setItem("flowpy-secret", state.secret);
    reset();
    connect();
  });

  function reset() {
    state.graphs = {}; state.order = []; state.selected = null; state.sources = {};
    state.components = {}; state.componentsReady = false; state.drawn = null;
    state.previous = {}; closeInspector();
    $("graphs").textContent = "";
    showCanvasHint("waiting for the runtime…");
  }

  // -- messages -----------------------------------------------------------------------------
  const HANDLERS = {
    "runtime:runtime": (p) => {
      state.capabilities = p.capabilities || [];
      state.runtime = p;
      $("label").textContent = p.label || "flowpy";
      $("runtime-id").textContent = p.id || "–";
      if (!state.capabilities.length) {
        say("This runtime needs a secret: enter it above.");
        showCanvasHint("no access without the runtime's secret");
        return;
      }
      say("");
      if (may("protocol:component")) send("component", "list", {});
      else state.componentsReady = true;
      if (may("network:status", "network:control", "protocol:network")) {
        send("flowpy", "stats", { interval: STATS_INTERVAL, packets: false });
      } else {
        showCanvasHint("this secret may not see the network's status");
      }
      updateButtons();
    },
    "component:component": (p) => {
      const name = p.library && !p.name.includes("/") ? `${p.library}/${p.name}` : p.name;
      state.components[name] = p;
    },
    "component:componentsready": () => { state.componentsReady = true; maybeDraw(); },
    "component:source": (p) => {
      if (p.language !== "json") return;
      try { state.sources[p.name] = JSON.parse(p.code); } catch (e) { return; }
      maybeDraw();
    },
    "flowpy:stats": (p) => { window.flowpyView.stats++; onStats(p); },
    "network:started": (p) => { if (p.graph === state.selected) refreshStats(); },
    "network:stopped": (p) => { if (p.graph === state.selected) refreshStats(); },
    "network:data": (p) => onIp("data", p),
    "network:begingroup": (p) => onIp("begingroup", p),
    "network:endgroup": (p) => onIp("endgroup", p),
    "runtime:error": (p) => say(p.message),
    "network:error": (p) => say(p.message),
    "component:error": (p) => say(p.message),
    "flowpy:error": (p) => say(p.message),
    "graph:error": (p) => say(p.message),
  };

  function refreshStats() { send("flowpy", "stats", { subscribe: false }); }

  // -- graphs and live state ----------------------------------------------------------------
  function onStats(payload) {
    const time = Date.parse(payload.time) || Date.now();
    for (const graph of payload.graphs || []) {
      const before = state.previous[graph.graph];
      graph.rates = rates(before, graph, time);
      if (payload.graphs.length > 1 || !before || before.time <= time) {
        state.previous[graph.graph] = { time, edges: graph.edges };
      }
      state.graphs[graph.graph] = graph;
    }
    const ids = Object.keys(state.graphs).sort();
    if (ids.join("\n") !== state.order.join("\n")) { state.order = ids; listGraphs(); }
    else updateGraphList();
    if (!state.selected && ids.length) {
      select(ids.includes(state.runtime.graph) ? state.runtime.graph : ids[0]);
    } else {
      updateLive();
    }
  }

  function edgeKey(e) { return `${e.src.node}.${String(e.src.port).toLowerCase()}>${e.tgt.node}.${String(e.tgt.port).toLowerCase()}`; }

  function rates(before, graph, time) {
    const out = {};
    if (!before || time <= before.time) return out;
    const old = {};
    for (const e of before.edges) old[edgeKey(e) + (e.src.index ?? "") + (e.tgt.index ?? "")] = e.ips;
    for (const e of graph.edges) {
      const key = edgeKey(e) + (e.src.index ?? "") + (e.tgt.index ?? "");
      if (key in old && e.ips >= old[key]) out[key] = (e.ips - old[key]) * 1000 / (time - before.time);
    }
    return out;
  }

  function listGraphs() {
    const list = $("graphs");
    list.textContent = "";
    for (const id of state.order) {
      const item = document.createElement("li");
      item.dataset.graph = id;
      item.innerHTML = `<span class="name"></span><span class="state"></span>`;
      item.querySelector(".name").textContent = id;
      item.addEventListener("click", () => select(id));
      list.appendChild(item);
    }
    updateGraphList();
  }

  function updateGraphList() {
    for (const item of $("graphs").children) {
      const graph = state.graphs[item.dataset.graph];
      const badge = item.querySelector(".state");
      badge.textContent = graph.state;
      badge.className = `state ${graph.state}`;
      item.classList.toggle("selected", item.dataset.graph === state.selected);
    }
  }

  function select(id) {
    state.selected = id;
    state.drawn = null;
    closeInspector();
    updateGraphList();
    $("graph-title").textContent = id;
    showCanvasHint("loading the graph…");
    if (!state.sources[id]) {
      if (may("component:getsource")) send("component", "getsource", { name: id });
      else showCanvasHint("this secret may not read the graph (component:getsource)");
    }
    maybeDraw();
    updateLive();
  }

  function showCanvasHint(text) {
    const canvas = $("canvas");
    canvas.textContent = "";
    const hint = document.createElement("p");
    hint.className = "hint"; hint.id = "canvas-hint"; hint.textContent = text;
    canvas.appendChild(hint);
  }

  function updateButtons() {
    const control = may("protocol:network", "network:control");
    const graph = state.graphs[state.selected];
    $("start").hidden = !control || !graph;
    $("stop").hidden = !control || !graph;
    if (graph) {
      $("start").disabled = graph.running;
      $("stop").disabled = !graph.started;
    }
  }
  $("start").addEventListener("click", () => send("network", "start", { graph: state.selected }));
  $("stop").addEventListener("click", () => send("network", "stop", { graph: state.selected }));

  // -- drawing ------------------------------------------------------------------------------
  function portsOf(graph) {
    /* node -> {in: [names], out: [names]}: the component's declared ports, and every port
       an edge, IIP or export uses (a component not listed still shows what is wired). */
    const ports = {};
    const add = (node, dir, port) => {
      const entry = ports[node] || (ports[node] = { in: [], out: [] });
      const name = String(port).toLowerCase();
      if (!entry[dir].includes(name)) entry[dir].push(name);
    };
    for (const [id, node] of Object.entries(graph.processes || {})) {
      const component = state.components[node.component];
      ports[id] = { in: [], out: [] };
      if (component) {
        for (const p of component.inPorts || []) add(id, "in", p.id);
        for (const p of component.outPorts || []) add(id, "out", p.id);
      }
    }
    for (const c of graph.connections || []) {
      if (c.src) add(c.src.process, "out", c.src.port);
      add(c.tgt.process, "in", c.tgt.port);
    }
    for (const e of Object.values(graph.inports || {})) add(e.process, "in", e.port);
    for (const e of Object.values(graph.outports || {})) add(e.process, "out", e.port);
    return ports;
  }

  const PORT_ROW = 18, HEAD = 40;
  const pid = (node, dir, port) => `p|${node}|${dir}|${String(port).toLowerCase()}`;

  function elkGraph(graph) {
    const ports = portsOf(graph);
    const children = [], edges = [];
    for (const [id, node] of Object.entries(graph.processes || {})) {
      const p = ports[id];
      const longest = Math.max(id.length, String(node.component).length,
        ...p.in.map((n) => n.length + 8), ...p.out.map((n) => n.length + 8));
      children.push({
        id: `n|${id}`, width: Math.max(130, longest * 7 + 24),
        height: HEAD + Math.max(p.in.length, p.out.length, 1) * PORT_ROW + 16,
        layoutOptions: { "elk.portConstraints": "FIXED_POS" },
        ports: [
          ...p.in.map((name, i) => ({ id: pid(id, "in", name), width: 8, height: 8,
            x: -4, y: HEAD + i * PORT_ROW, layoutOptions: { "elk.port.side": "WEST" } })),
          ...p.out.map((name, i) => ({ id: pid(id, "out", name), width: 8, height: 8,
            x: 0, y: HEAD + i * PORT_ROW, layoutOptions: { "elk.port.side": "EAST" } })),
        ],
      });
    }
    for (const child of children) for (const port of child.ports) if (port.id.includes("|out|")) port.x = child.width - 4;
    let n = 0;
    (graph.connections || []).forEach((c) => {
      if (!c.src) {
        const id = `i|${n++}`;
        const text = JSON.stringify(c.data);
        children.push({ id, width: Math.min(200, text.length * 7 + 16), height: 22, iip: text,
          ports: [{ id: `${id}|o`, width: 1, height: 1, layoutOptions: { "elk.port.side": "EAST" } }],
          layoutOptions: { "elk.portConstraints": "FIXED_SIDE" } });
        edges.push({ id: `iip|${id}`, sources: [`${id}|o`], targets: [pid(c.tgt.process, "in", c.tgt.port)] });
      } else {
        edges.push({ id: `e|${edges.length}`, conn: c,
          sources: [pid(c.src.process, "out", c.src.port)],
          targets: [pid(c.tgt.process, "in", c.tgt.port)] });
      }
    });
    for (const [dir, table] of [["in", graph.inports || {}], ["out", graph.outports || {}]]) {
      for (const [name, e] of Object.entries(table)) {
        const id = `x|${dir}|${name}`;
        children.push({ id, width: name.length * 7 + 30, height: 22, exported: { dir, name },
          ports: [{ id: `${id}|p`, width: 1, height: 1,
            layoutOptions: { "elk.port.side": dir === "in" ? "EAST" : "WEST" } }],
          layoutOptions: { "elk.portConstraints": "FIXED_SIDE",
            "elk.layered.layering.layerConstraint": dir === "in" ? "FIRST" : "LAST" } });
        edges.push({ id: `x|${dir}|${name}`, export: true,
          sources: [dir === "in" ? `${id}|p` : pid(e.process, "out", e.port)],
          targets: [dir === "in" ? pid(e.process, "in", e.port) : `${id}|p`] });
      }
    }
    return {
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered", "elk.direction": "RIGHT",
        "elk.edgeRouting": "ORTHOGONAL", "elk.layered.spacing.nodeNodeBetweenLayers": "100",
        "elk.spacing.nodeNode": "24", "elk.spacing.edgeNode": "16",
        "elk.separateConnectedComponents": "true",
      },
      children, edges,
    };
  }

  const elk = new ELK();

  function maybeDraw() {
    const id = state.selected;
    const graph = state.sources[id];
    if (!id || !graph || !state.componentsReady || state.drawn === id) return;
    state.drawn = id;
    const began = performance.now();
    const input = elkGraph(graph);
    elk.layout(input).then((laid) => {
      const layoutDone = performance.now();
      if (state.selected !== id) return;
      render(laid, input);
      window.flowpyView.layoutMs = layoutDone - began;
      window.flowpyView.drawMs = performance.now() - began;
      window.flowpyView.draws++;
      updateLive();
    }).catch((error) => { state.drawn = null; say(`layout failed: ${error}`); });
  }

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, value, cls, anchor) {
    const t = el("text", { x, y, class: cls || "", "text-anchor": anchor || "start" }, parent);
    t.textContent = value;
    return t;
  }

  function render(laid, input) {
    const canvas = $("canvas");
    canvas.textContent = "";
    const svg = el("svg", { width: laid.width + 40, height: laid.height + 40, id: "drawing" }, canvas);
    const root = el("g", { transform: "translate(20,20)" }, svg);
    const edgeLayer = el("g", { class: "edges" }, root);
    const nodeLayer = el("g", { class: "nodes" }, root);
    const graph = state.sources[state.selected];
    for (const child of laid.children) {
      const g = el("g", { transform: `translate(${child.x},${child.y})` }, nodeLayer);
      if (child.id.startsWith("n|")) {
        const id = child.id.slice(2);
        g.setAttribute("class", "node");
        g.dataset.node = id;
        el("rect", { class: "box", width: child.width, height: child.height }, g);
        text(g, 10, 16, id, "title");
        text(g, 10, 30, graph.processes[id].component, "component");
        const status = text(g, 10, child.height - 5, "", "status");
        status.dataset.role = "status";
        for (const port of child.ports) {
          const [, , dir, name] = port.id.split("|");
          const pg = el("g", { class: `port ${dir}`, "data-port": name, "data-dir": dir }, g);
          el("rect", { x: port.x, y: port.y, width: 8, height: 8 }, pg);
          if (dir === "in") text(pg, port.x + 12, port.y + 8, name.toUpperCase());
          else text(pg, port.x - 4, port.y + 8, name.toUpperCase(), "", "end");
        }
      } else if (child.exported) {
        g.setAttribute("class", `export ${child.exported.dir}`);
        g.dataset.export = child.exported.name;
        el("rect", { width: child.width, height: child.height }, g);
        text(g, child.width / 2, 15, child.exported.name.toUpperCase(), "", "middle");
      } else if (child.iip !== undefined) {
        g.setAttribute("class", "iip");
        el("rect", { width: child.width, height: child.height }, g);
        el("title", {}, g).textContent = child.iip;
        text(g, 6, 15, child.iip.length > 26 ? child.iip.slice(0, 25) + "…" : child.iip);
      }
    }
    const byId = {};
    for (const e of input.edges) byId[e.id] = e;
    for (const edge of laid.edges) {
      const section = (edge.sections || [])[0];
      if (!section) continue;
      const points = [section.startPoint, ...(section.bendPoints || []), section.endPoint];
      const d = points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
      const g = el("g", { class: "edge" }, edgeLayer);
      el("path", { class: "line", d }, g);
      const conn = byId[edge.id].conn;
      if (!conn) continue;
      g.dataset.src = `${conn.src.process}.${String(conn.src.port).toLowerCase()}`;
      g.dataset.tgt = `${conn.tgt.process}.${String(conn.tgt.port).toLowerCase()}`;
      g.dataset.key = `${g.dataset.src}>${g.dataset.tgt}`;
      el("path", { class: "hit", d }, g);
      const mid = labelPoint(points);
      const label = text(g, mid.x, mid.y - 4, "", "count", "middle");
      label.dataset.role = "count";
      g.addEventListener("click", () => inspect(conn, g));
    }
  }

  function labelPoint(points) {
    /* the middle of the longest horizontal stretch: the label sits on the line, not a node */
    let best = { x: points[0].x, y: points[0].y, len: -1 };
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1], b = points[i];
      const len = Math.abs(b.x - a.x);
      if (a.y === b.y && len > best.len) best = { x: (a.x + b.x) / 2, y: a.y, len };
    }
    return best;
  }

  function formatRate(rate) {
    if (rate === undefined) return "";
    return rate >= 100 ? `${Math.round(rate)}/s` : `${rate.toFixed(1)}/s`;
  }

  function updateLive() {
    const graph = state.graphs[state.selected];
    updateButtons();
    if (!graph) return;
    const badge = $("graph-state");
    badge.textContent = graph.running ? `running, up ${Math.round(graph.uptime)}s` : graph.state;
    badge.className = `state ${graph.state}`;
    $("graph-error").textContent = graph.lastError && !graph.running && graph.state !== "not started"
      ? `last error: ${graph.lastError.node}: ${graph.lastError.message}` : "";
    const drawing = $("drawing");
    if (!drawing) return;
    for (const node of drawing.querySelectorAll("g.node")) {
      const process = graph.processes[node.dataset.node] || { state: "stopped", errors: 0, restarts: 0 };
      node.setAttribute("class", `node ${process.state}`);
      node.dataset.state = process.state;
      const status = node.querySelector("[data-role=status]");
      let line = process.state;
      if (process.errors) line += ` · ${process.errors} error${process.errors > 1 ? "s" : ""}`;
      if (process.restarts) line += ` · ${process.restarts} restarts`;
      status.textContent = line;
      let title = node.querySelector("title");
      if (process.error) {
        if (!title) title = el("title", {}, node);
        title.textContent = process.error;
      } else if (title) title.remove();
    }
    const counts = {};
    for (const e of graph.edges) {
      const key = edgeKey(e);
      const rate = graph.rates ? graph.rates[key + (e.src.index ?? "") + (e.tgt.index ?? "")] : undefined;
      const entry = counts[key] || (counts[key] = { ips: 0, rate: undefined });
      entry.ips += e.ips;
      if (rate !== undefined) entry.rate = (entry.rate || 0) + rate;
    }
    for (const edge of drawing.querySelectorAll("g.edge[data-key]")) {
      const entry = counts[edge.dataset.key];
      const label = edge.querySelector("[data-role=count]");
      edge.dataset.ips = entry ? entry.ips : 0;
      const rate = graph.running && entry ? formatRate(entry.rate) : "";
      label.textContent = entry ? `${entry.ips} IPs ${rate}`.trim() : "";
    }
    for (const exported of drawing.querySelectorAll("g.export")) {
      const dir = exported.classList.contains("in") ? "inports" : "outports";
      const count = (graph[dir] || {})[exported.dataset.export];
      exported.dataset.ips = count || 0;
      let title = exported.querySelector("title") || el("title", {}, exported);
      title.textContent = `${count || 0} packets`;
    }
  }

  // -- inspecting an edge --------------------------------------------------------------------
  function inspect(conn, g) {
    for (const other of document.querySelectorAll("g.edge.selected")) other.classList.remove("selected");
    g.classList.add("selected");
    const end = (e) => {
      const out = { node: e.process, port: e.port };
      if (e.index !== undefined && e.index !== null) out.index = e.index;
      return out;
    };
    state.inspected = { src: end(conn.src), tgt: end(conn.tgt) };
    state.ips = [];
    $("inspected-edge").textContent =
      `${conn.src.process} ${String(conn.src.port).toUpperCase()} → ${String(conn.tgt.port).toUpperCase()} ${conn.tgt.process}`;
    $("inspector").hidden = false;
    renderIps();
    if (!may("network:data", "protocol:network")) {
      say("this secret may not watch edges (network:data)");
      return;
    }
    send("network", "edges", { graph: state.selected, edges: [state.inspected] });
  }

  function closeInspector() {
    if (state.inspected && state.selected) send("network", "edges", { graph: state.selected, edges: [] });
    state.inspected = null;
    $("inspector").hidden = true;
  }
  $("close-inspector").addEventListener("click", closeInspector);

  function onIp(kind, p) {
    const watched = state.inspected;
    if (!watched || p.graph !== state.selected || !p.tgt) return;
    const same = (a, b) => a && b && a.node === b.node &&
      String(a.port).toLowerCase() === String(b.port).toLowerCase();
    if (!same(p.tgt, watched.tgt) || (p.src && !same(p.src, watched.src))) return;
    const value = kind === "data" ? JSON.stringify(p.data) : `${kind} ${JSON.stringify(p.group)}`;
    state.ips.unshift(value.length > 200 ? value.slice(0, 199) + "…" : value);
    state.ips.length = Math.min(state.ips.length, KEPT_IPS);
    renderIps();
  }

  function renderIps() {
    const list = $("ips");
    list.textContent = "";
    if (!state.ips.length) {
      const li = document.createElement("li");
      li.className = "hint"; li.textContent = "waiting for the next IP on this edge…";
      list.appendChild(li);
    }
    for (const value of state.ips) {
      const li = document.createElement("li");
      li.className = "ip"; li.textContent = value;
      list.appendChild(li);
    }
  }

  connect();
})();
