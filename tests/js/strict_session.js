#!/usr/bin/env node
// A strict FBP protocol session against a running flowpy runtime, through fbp-client 0.4.3,
// which validates every message it sends and receives against the fbp-protocol schemas and
// checks every command and reply against the runtime's advertised capabilities.
//
//   node tests/strict_session.js ws://127.0.0.1:PORT [SECRET]
//
// Exit status 0 when every step passed and no protocol error (invalid message, message the
// capabilities do not allow) was seen; 1 otherwise, with the reason on stderr. Each step
// prints one line on stdout.

const assert = require('assert');
const fbpClient = require('fbp-client');

const address = process.argv[2];
const secret = process.argv[3] || '';
const GRAPH = `strict-${process.pid}`;
const WAIT_MS = 10000;

if (!address) {
  console.error('usage: strict_session.js ws://HOST:PORT [SECRET]');
  process.exit(2);
}

const signals = [];
const protocolErrors = [];
const waiters = [];

function step(text) {
  console.log(`ok - ${text}`);
}

function onSignal(signal) {
  signals.push(signal);
  for (let i = waiters.length - 1; i >= 0; i -= 1) {
    if (waiters[i].match(signal)) {
      waiters[i].resolve(signal);
      waiters.splice(i, 1);
    }
  }
}

// Resolves with the first signal since `from` (an index into `signals`) matching `match`.
function waitSignal(what, match, from = 0) {
  const seen = signals.slice(from).find(match);
  if (seen) {
    return Promise.resolve(seen);
  }
  return new Promise((resolve, reject) => {
    const waiter = { match, resolve };
    waiters.push(waiter);
    setTimeout(() => {
      const index = waiters.indexOf(waiter);
      if (index !== -1) {
        waiters.splice(index, 1);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, WAIT_MS);
  });
}

function isPacket(port, event) {
  return (s) => s.protocol === 'runtime' && s.command === 'packet'
    && s.payload.graph === GRAPH && s.payload.port === port && s.payload.event === event;
}

function isDebug(command) {
  return (s) => s.protocol === 'network' && s.command === command && s.payload.graph === GRAPH;
}

async function expectError(promise, pattern, what) {
  let failed = null;
  try {
    await promise;
  } catch (err) {
    failed = err;
  }
  assert(failed, `${what}: expected an error reply`);
  assert.match(failed.message, pattern, `${what}: unexpected error "${failed.message}"`);
  step(`${what} → error "${failed.message}"`);
}

async function main() {
  const client = await fbpClient(
    { address, protocol: 'websocket', secret },
    { commandTimeout: WAIT_MS, connectionTimeout: WAIT_MS },
  );
  client.on('signal', onSignal);
  client.on('protocolError', (err) => protocolErrors.push(err));
  await client.connect();
  step(`connected to ${address}`);

  // runtime:getruntime was sent by connect(), which validated the runtime:runtime reply and
  // keeps it as client.definition (fbp-client 0.4.3 waits for a "getruntime" reply if it is
  // sent through client.protocol.runtime.getruntime, so that call never resolves).
  const runtime = client.definition;
  assert.strictEqual(runtime.version, '0.7');
  assert.strictEqual(runtime.type, 'flowpy');
  for (const capability of ['protocol:graph', 'protocol:network', 'protocol:runtime',
    'protocol:component', 'network:data']) {
    assert(runtime.capabilities.includes(capability), `capability ${capability} missing`);
  }
  step(`getruntime: ${runtime.type} ${runtime.version}, ${runtime.capabilities.length} capabilities`);

  // component:list
  const components = await client.protocol.component.list();
  const byName = {};
  components.forEach((c) => { byName[c.name] = c; });
  for (const name of ['core/Repeat', 'core/Drop', 'core/Count', 'core/Merge', 'core/Split']) {
    assert(byName[name], `component ${name} not listed`);
  }
  assert.deepStrictEqual(byName['core/Repeat'].inPorts.map((p) => p.id), ['in']);
  assert.deepStrictEqual(byName['core/Repeat'].outPorts.map((p) => p.id), ['out']);
  step(`component:list: ${components.length} components`);

  // graph: a Repeat chain with exported ports
  await client.protocol.graph.clear({ id: GRAPH, name: GRAPH, main: false });
  await client.protocol.graph.addnode({ graph: GRAPH, id: 'first', component: 'core/Repeat', metadata: { x: 10, y: 20 } });
  await client.protocol.graph.addnode({ graph: GRAPH, id: 'second', component: 'core/Repeat', metadata: {} });
  await client.protocol.graph.addedge({
    graph: GRAPH, src: { node: 'first', port: 'out' }, tgt: { node: 'second', port: 'in' },
  });
  await client.protocol.graph.addinport({ graph: GRAPH, public: 'in', node: 'first', port: 'in' });
  await client.protocol.graph.addoutport({ graph: GRAPH, public: 'out', node: 'second', port: 'out' });
  await waitSignal('runtime:ports with in and out', (s) => s.protocol === 'runtime'
    && s.command === 'ports' && s.payload.graph === GRAPH
    && s.payload.inPorts.some((p) => p.id === 'in')
    && s.payload.outPorts.some((p) => p.id === 'out'));
  step('graph built: first(core/Repeat) -> second(core/Repeat), exported in/out, runtime:ports seen');

  // network:edges + debug, then start
  await client.protocol.network.edges({
    graph: GRAPH, edges: [{ src: { node: 'first', port: 'out' }, tgt: { node: 'second', port: 'in' } }],
  });
  // fbp-client 0.4.3 waits for a reply named "debug", which has no output schema; flowpy
  // answers with network:status (as the notes say). So send it on the transport, after
  // validating it ourselves, and wait for that status as a (validated) signal.
  const debugRequest = { protocol: 'network', command: 'debug', payload: { graph: GRAPH, enable: true } };
  await client.validate('/network/input/debug', { ...debugRequest, payload: { ...debugRequest.payload } });
  const debugIndex = signals.length;
  client.transport.send('network', 'debug', { ...debugRequest.payload, secret });
  await waitSignal('network:status after network:debug', (s) => s.protocol === 'network'
    && s.command === 'status' && s.payload.graph === GRAPH, debugIndex);
  const startIndex = signals.length;
  const started = await client.protocol.network.start({ graph: GRAPH });
  assert.strictEqual(started.started, true);
  await waitSignal('runtime:packet connect on out', isPacket('out', 'connect'), startIndex);
  step('network started; runtime:packet connect on out');

  // runtime:packet in: all five events, brackets included
  const sendIndex = signals.length;
  const inputs = [
    { event: 'connect' },
    { event: 'begingroup', payload: 'group-a' },
    { event: 'data', payload: 42 },
    { event: 'data', payload: { nested: ['x', 1.5, null, true] } },
    { event: 'endgroup', payload: 'group-a' },
    { event: 'disconnect' },
  ];
  for (const input of inputs) {
    const sent = await client.protocol.runtime.packet({ graph: GRAPH, port: 'in', ...input });
    assert.strictEqual(sent.event, input.event);
    assert.strictEqual(sent.port, 'in');
  }
  step('runtime:packet connect/begingroup/data/data/endgroup/disconnect → packetsent for each');

  await waitSignal('runtime:packet endgroup on out', isPacket('out', 'endgroup'), sendIndex);
  const outputs = signals.slice(sendIndex)
    .filter((s) => s.protocol === 'runtime' && s.command === 'packet' && s.payload.graph === GRAPH)
    .map((s) => s.payload)
    .filter((p) => p.event !== 'connect' && p.event !== 'disconnect');
  assert.deepStrictEqual(
    outputs.map((p) => [p.event, p.payload]),
    [['begingroup', 'group-a'], ['data', 42], ['data', { nested: ['x', 1.5, null, true] }],
      ['endgroup', 'group-a']],
  );
  step('runtime:packet out: begingroup, data, data, endgroup in order');

  // network debug data for the subscribed edge
  await waitSignal('network:endgroup on the edge', isDebug('endgroup'), sendIndex);
  const debug = signals.slice(sendIndex)
    .filter((s) => s.protocol === 'network' && s.payload.graph === GRAPH
      && ['begingroup', 'data', 'endgroup'].includes(s.command));
  assert.deepStrictEqual(debug.map((s) => s.command), ['begingroup', 'data', 'data', 'endgroup']);
  const data = debug.find((s) => s.command === 'data');
  assert.strictEqual(data.payload.id, 'first() OUT -> IN second()');
  assert.deepStrictEqual(data.payload.src, { node: 'first', port: 'out' });
  assert.deepStrictEqual(data.payload.tgt, { node: 'second', port: 'in' });
  assert.strictEqual(data.payload.data, 42);
  step(`network:edges + debug: ${debug.length} debug messages for ${data.payload.id}`);

  // error replies
  await expectError(
    client.protocol.graph.addnode({ graph: 'no-such-graph', id: 'x', component: 'core/Repeat' }),
    /Requested graph not found/, 'graph:addnode on an unknown graph',
  );
  await expectError(
    client.protocol.runtime.packet({ graph: GRAPH, port: 'nope', event: 'data', payload: 1 }),
    /nope/, 'runtime:packet to an unknown port',
  );
  await expectError(
    client.protocol.runtime.packet({ graph: 'no-such-graph', port: 'in', event: 'data', payload: 1 }),
    /no-such-graph|not found/i, 'runtime:packet to an unknown graph',
  );
  await expectError(
    client.protocol.network.start({ graph: 'no-such-graph' }),
    /not found/i, 'network:start of an unknown graph',
  );
  await expectError(
    client.protocol.graph.addedge({
      graph: GRAPH, src: { node: 'first', port: 'out' }, tgt: { node: 'ghost', port: 'in' },
    }),
    /ghost/, 'graph:addedge to a missing node',
  );

  // stop
  const stopIndex = signals.length;
  const stopped = await client.protocol.network.stop({ graph: GRAPH });
  assert.strictEqual(stopped.started, false);
  assert.strictEqual(stopped.running, false);
  await waitSignal('runtime:packet disconnect on out', isPacket('out', 'disconnect'), stopIndex);
  const status = await client.protocol.network.getstatus({ graph: GRAPH });
  assert.strictEqual(status.started, false);
  assert.strictEqual(status.running, false);
  step('network stopped; runtime:packet disconnect on out; status started=false running=false');

  // the graph is left for inspection; a runtime restart forgets it unless persisted
  await client.disconnect();
  if (protocolErrors.length) {
    throw new Error(`${protocolErrors.length} protocol error(s): ${protocolErrors.map((e) => e.message).join('; ')}`);
  }
  step(`no protocol errors in ${signals.length} signals`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`not ok - ${err.stack || err}`);
    if (protocolErrors.length) {
      console.error(`protocol errors: ${protocolErrors.map((e) => e.message).join('\n')}`);
    }
    process.exit(1);
  },
);
