// Connects autobahn-js sessions to the WAMP router under test.
//
// Owns: reading the router location from the environment (WAMP_HOST,
// WAMP_PORT_A, WAMP_PORT_B, WAMP_REALM, WAMP_WS_PATH), opening WebSocket or
// RawSocket connections with one serializer, and closing every connection a
// test opened. Never starts a router; never reconnects.
'use strict';

const autobahn = require('autobahn');

// Milliseconds a connect plus HELLO/WELCOME may take.
const JOIN_TIMEOUT_MS = 10000;
// Milliseconds a single awaited router reply (RPC, ack, event) may take.
const REPLY_TIMEOUT_MS = 10000;
// Milliseconds one whole test may run (node:test fails it after this).
const TEST_TIMEOUT_MS = 60000;

// autobahn-js warns on every normal close; keep stderr for real problems.
const QUIET_WARNINGS = ['connection closed', 'auto-reconnect disabled!'];
const warn = autobahn.log.warn;
autobahn.log.warn = (first, ...rest) => {
  if (!QUIET_WARNINGS.includes(first)) warn(first, ...rest);
};

// Handler exceptions: an autobahn.Error thrown on purpose is the WAMP error
// reply under test, not a problem worth a stack trace on stderr.
function reportUserError(error, message) {
  if (!(error instanceof autobahn.Error)) console.error(message, error);
}

// The serializers autobahn-js 22.11.1 ships: JSON always, MessagePack through
// msgpack5 and CBOR through cbor (both plain dependencies of autobahn).
const SERIALIZERS = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
  cbor: () => new autobahn.serializer.CBORSerializer(),
};

// Wires the node tests run over. autobahn-js RawSocket under Node speaks JSON only.
const WIRES = [
  { transport: 'websocket', serializer: 'json' },
  { transport: 'websocket', serializer: 'msgpack' },
  { transport: 'websocket', serializer: 'cbor' },
  { transport: 'rawsocket', serializer: 'json' },
];

function router() {
  const portA = Number(process.env.WAMP_PORT_A);
  const portB = Number(process.env.WAMP_PORT_B);
  if (!portA || !portB) {
    throw new Error('WAMP_PORT_A and WAMP_PORT_B must be set: point the interop tests at a running router');
  }
  let path = process.env.WAMP_WS_PATH || '/';
  if (!path.startsWith('/')) path = '/' + path;
  return {
    host: process.env.WAMP_HOST || '127.0.0.1',
    ports: { A: portA, B: portB },
    realm: process.env.WAMP_REALM || 'realm1',
    wsPath: path,
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

// Awaits one router reply, failing the test if it does not come in time.
function reply(promise, what = 'router reply') {
  return withTimeout(promise, REPLY_TIMEOUT_MS, what);
}

// Opens sessions for one test; close() ends all of them.
class Peers {
  constructor(wire) {
    this.router = router();
    this.wire = wire;
    this.connections = [];
  }

  connect(side, serializer = this.wire.serializer, transport = this.wire.transport) {
    const port = this.router.ports[side];
    if (!port) throw new Error(`side must be A or B, not ${side}`);
    const options = {
      realm: this.router.realm,
      max_retries: 0,
      retry_if_unreachable: false,
      on_user_error: reportUserError,
    };
    if (transport === 'websocket') {
      options.url = `ws://${this.router.host}:${port}${this.router.wsPath}`;
      options.serializers = [SERIALIZERS[serializer]()];
    } else if (transport === 'rawsocket') {
      if (serializer !== 'json') throw new Error('autobahn-js RawSocket supports JSON only');
      options.transports = [{ type: 'rawsocket', host: this.router.host, port }];
    } else {
      throw new Error(`unknown transport ${transport}`);
    }
    const connection = new autobahn.Connection(options);
    this.connections.push(connection);
    const joined = new Promise((resolve, reject) => {
      connection.onopen = (session) => resolve(session);
      connection.onclose = (reason, details) => {
        reject(new Error(`connection closed before join: ${reason} ${JSON.stringify(details)}`));
        return true;
      };
    });
    connection.open();
    return withTimeout(joined, JOIN_TIMEOUT_MS, `join on port ${side}`);
  }

  async close() {
    const closing = this.connections.map(
      (connection) =>
        new Promise((resolve) => {
          connection.onclose = () => {
            resolve();
            return true;
          };
          try {
            connection.close();
          } catch (_) {
            resolve();
          }
        }),
    );
    await withTimeout(Promise.all(closing), JOIN_TIMEOUT_MS, 'closing sessions').catch(() => {});
    this.connections = [];
  }
}

// Runs body(peers) and always closes the sessions it opened.
async function withPeers(wire, body) {
  const peers = new Peers(wire);
  try {
    await body(peers);
  } finally {
    await peers.close();
  }
}

// Returns a URI unique to this run, valid under the strict rule.
function uniqueUri(name) {
  const tag = `${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}`;
  return `com.interop.js${tag}.${name}`;
}

function wireName(wire) {
  return `${wire.transport}-${wire.serializer}`;
}

module.exports = {
  autobahn,
  SERIALIZERS,
  TEST_TIMEOUT_MS,
  WIRES,
  reply,
  uniqueUri,
  withPeers,
  wireName,
};
