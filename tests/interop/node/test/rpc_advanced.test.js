// Advanced Profile RPC with autobahn-js on both ends: callees on port A, caller
// on port B (different shards on wampyard). Owns: what the router must do for a
// callee that does not announce call_canceling (autobahn-js 22.11.1 announces
// progressive_call_results but not call_canceling, and treats an INTERRUPT as a
// protocol violation): no progress channel, cancel and timeout as "skip"; caller
// disclosure (disclose_me, disclose_caller); shared registrations (roundrobin,
// first, last, random) and policy conflicts. Starts no router.
//
// Tests whose name says "crossbar_differs" hold the spec's behaviour where
// Crossbar.io 26.10 does otherwise; the comment above each says what Crossbar
// does. Run without them:
//   node --test --test-name-pattern='^(?!.*crossbar_differs).*\]$'
// (the trailing `.*\]$` matters: Node 20 runs every test whose parent matches,
// and a bare negative lookahead matches the file-level parent.)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, WIRES, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// Milliseconds the router may take for anything it must do at once (a reply,
// the ERROR for a CANCEL); short so a router that never answers fails fast.
const PROMPT_MS = 1000;
// Milliseconds one whole test may run.
const TEST_MS = 10000;
// CALL.Options.timeout for a callee that never answers, in ms.
const TIMEOUT_MS = 300;
// Callees sharing one registration, and the calls the random policy may take
// to reach each of them (missing one has probability 3 * (2/3)**60 ~ 1e-10).
const SHARED_CALLEES = 3;
const RANDOM_CALLS = 60;

const MSG = { CALL: 48, CANCEL: 49, RESULT: 50, ERROR: 8, INVOCATION: 68, INTERRUPT: 69, YIELD: 70 };

function within(promise, ms = PROMPT_MS, what = 'router answer') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

async function expectError(promise, ms = PROMPT_MS) {
  try {
    const value = await within(promise, ms, 'WAMP error');
    assert.fail(`expected a WAMP error, got success: ${JSON.stringify(value)}`);
  } catch (error) {
    if (!(error instanceof autobahn.Error)) throw error;
    return error;
  }
}

// Records the WAMP messages (as arrays) one session sends and receives, by
// wrapping its transport's send and onmessage (autobahn-js `_socket`).
class Tap {
  constructor(session) {
    this.sent = [];
    this.received = [];
    this.waiters = [];
    const socket = session._socket;
    const send = socket.send;
    const deliver = socket.onmessage;
    socket.send = (msg) => {
      this.sent.push(msg);
      this.wake();
      send.call(socket, msg);
    };
    socket.onmessage = (msg) => {
      this.received.push(msg);
      this.wake();
      deliver.call(socket, msg);
    };
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  async first(log, match) {
    for (;;) {
      const found = log.find(match);
      if (found) return found;
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }

  waitSent(match, what) {
    return within(this.first(this.sent, match), PROMPT_MS, what);
  }

  callRequest(procedure) {
    const calls = this.sent.filter((m) => m[0] === MSG.CALL && m[3] === procedure);
    assert.ok(calls.length, `no CALL to ${procedure} was sent`);
    return calls[calls.length - 1][1];
  }

  repliesToCall(request) {
    return this.received.filter(
      (m) => (m[0] === MSG.RESULT && m[1] === request) || (m[0] === MSG.ERROR && m[1] === MSG.CALL && m[2] === request),
    );
  }
}

// A callee on A whose procedure "held" answers only when the test lets it go,
// and "ping", which can first let the held invocation answer and wait until that
// late YIELD is on the wire, so it reaches the router before ping's own.
async function heldPair(peers) {
  const callee = await peers.connect('A');
  const caller = await peers.connect('B');
  const calleeTap = new Tap(callee);
  const held = { procedure: uniqueUri('held'), ping: uniqueUri('ping') };
  let release;
  let markInvoked;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  held.invoked = new Promise((resolve) => {
    markInvoked = resolve;
  });
  held.release = () => release('late');
  await within(
    callee.register(held.procedure, () => {
      markInvoked();
      return released;
    }),
  );
  await within(
    callee.register(held.ping, async (args) => {
      if (args[0] === 'flush') {
        held.release();
        const invocation = await within(
          calleeTap.first(calleeTap.received, (m) => m[0] === MSG.INVOCATION && m[4] && m[4][0] === 'held'),
        );
        await calleeTap.waitSent((m) => m[0] === MSG.YIELD && m[1] === invocation[1], 'late YIELD');
      }
      return 'pong';
    }),
  );
  return { callee, caller, callerTap: new Tap(caller), held };
}

// Lets the held invocation answer, then proves the router dropped that answer:
// one callee's replies reach one caller in order, so once ping's result is in,
// a forwarded late reply would already be in the tap (and autobahn-js would have
// closed the connection over a reply to a finished call).
async function assertLateReplyDropped({ caller, callerTap, held }, request) {
  assert.equal(await within(caller.call(held.ping, ['flush'])), 'pong');
  const replies = callerTap.repliesToCall(request);
  assert.equal(replies.length, 1, `the canceled call got more than one reply: ${JSON.stringify(replies)}`);
  assert.ok(caller.isOpen, 'the caller session must survive');
}

// Registers SHARED_CALLEES callees on A one after the other; callee i answers i.
async function sharedCallees(peers, procedure, invoke) {
  const callees = [];
  const ids = [];
  for (let index = 0; index < SHARED_CALLEES; index += 1) {
    const callee = await peers.connect('A');
    const registration = await within(callee.register(procedure, () => index, { invoke }));
    callees.push(callee);
    ids.push(registration.id);
  }
  assert.equal(new Set(ids).size, 1, `one shared registration, got IDs ${ids}`);
  return callees;
}

async function answers(caller, procedure, calls) {
  const seen = [];
  for (let i = 0; i < calls; i += 1) seen.push(await within(caller.call(procedure)));
  return seen;
}

function leave(connection) {
  return within(
    new Promise((resolve) => {
      connection.onclose = () => {
        resolve();
        return true;
      };
      connection.close();
    }),
    PROMPT_MS,
    'close',
  );
}

for (const wire of WIRES) {
  const name = (what) => `${what} [${wireName(wire)}]`;

  // Crossbar 26.10 forwards receive_progress to every callee that announced
  // progressive_call_results, whether or not it announced call_canceling.
  test(name('a callee without call_canceling is offered no progress channel crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const caller = await peers.connect('B');
      const procedure = uniqueUri('stream');
      await within(
        callee.register(procedure, (args, kwargs, details) => {
          if (details.progress) details.progress(['partial']);
          return details.progress ? 'offered' : 'not offered';
        }),
      );
      const progress = [];
      const result = await within(
        caller.call(procedure, [], {}, { receive_progress: true }).then(
          (value) => value,
          (error) => {
            throw error;
          },
          (value) => progress.push(value),
        ),
      );
      // The spec: a callee that supports progressive results but not call
      // canceling is considered by the dealer not to support progressive results.
      assert.equal(result, 'not offered');
      assert.deepEqual(progress, []);
    }),
  );

  // Crossbar 26.10 sends the caller nothing when the cancel mode is (or becomes)
  // skip: the call stays pending until the callee answers (dropped) or leaves.
  test(name('canceling a call to a callee without call_canceling works as skip crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const pair = await heldPair(peers);
      const { callee, caller, callerTap, held } = pair;
      try {
        const call = caller.call(held.procedure, ['held']);
        await within(held.invoked, PROMPT_MS, 'INVOCATION');
        // Only mode "kill" keeps the call pending in autobahn-js until the router
        // answers; with any other mode it rejects locally and then treats the
        // router's ERROR as a protocol violation.
        call.cancel({ mode: 'kill' });
        const error = await expectError(call);
        assert.equal(error.error, 'wamp.error.canceled');
        // An INTERRUPT would have closed the callee (autobahn-js has no handler
        // for it) before ping's INVOCATION arrived.
        assert.equal(await within(caller.call(held.ping, ['plain'])), 'pong');
        assert.ok(callee.isOpen, 'the callee must not be sent INTERRUPT');
        await assertLateReplyDropped(pair, callerTap.callRequest(held.procedure));
      } finally {
        held.release();
      }
    }),
  );

  // Crossbar 26.10 reads CALL.Options.timeout as seconds (300 ms fires after
  // about 300 s) and answers wamp.error.canceled with args ["timeout reached"].
  test(name('a call timeout gives wamp.error.timeout without interrupting a callee that cannot cancel crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const pair = await heldPair(peers);
      const { callee, caller, callerTap, held } = pair;
      try {
        const started = Date.now();
        const error = await expectError(caller.call(held.procedure, ['held'], {}, { timeout: TIMEOUT_MS }), TIMEOUT_MS + PROMPT_MS);
        assert.equal(error.error, 'wamp.error.timeout');
        assert.ok(Date.now() - started >= TIMEOUT_MS * 0.9, `timed out before ${TIMEOUT_MS} ms`);
        assert.equal(await within(caller.call(held.ping, ['plain'])), 'pong');
        assert.ok(callee.isOpen, 'the callee must not be sent INTERRUPT');
        await assertLateReplyDropped(pair, callerTap.callRequest(held.procedure));
      } finally {
        held.release();
      }
    }),
  );

  // Crossbar 26.10 ignores disclose_me and disclose_caller (only its role
  // configuration decides, "disclose": {"caller": false} in the test config).
  test(name('disclose_me gives the callee the caller session id crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const caller = await peers.connect('B');
      const procedure = uniqueUri('who');
      await within(callee.register(procedure, (args, kwargs, details) => details.caller ?? null));
      assert.equal(await within(caller.call(procedure, [], {}, { disclose_me: true })), caller.id);
    }),
  );

  test(name('disclose_caller on the registration discloses every caller crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const procedure = uniqueUri('who');
      await within(callee.register(procedure, (args, kwargs, details) => details.caller ?? null, { disclose_caller: true }));
      for (const side of ['B', 'A']) {
        const caller = await peers.connect(side);
        assert.equal(await within(caller.call(procedure)), caller.id, `caller on ${side}`);
      }
    }),
  );

  test(name('the caller stays hidden without disclose_me'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const caller = await peers.connect('B');
      const procedure = uniqueUri('who');
      await within(
        callee.register(procedure, (args, kwargs, details) => [details.caller ?? null, details.caller_authid ?? null, details.caller_authrole ?? null]),
      );
      assert.deepEqual(await within(caller.call(procedure)), [null, null, null]);
    }),
  );

  test(name('roundrobin cycles through callees in registration order and skips one that left'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const procedure = uniqueUri('rr');
      await sharedCallees(peers, procedure, 'roundrobin');
      const caller = await peers.connect('B');
      const seq = await answers(caller, procedure, 2 * SHARED_CALLEES);
      assert.deepEqual(seq, seq.map((_, i) => (seq[0] + i) % SHARED_CALLEES));

      const leaving = (seq[seq.length - 1] + 1) % SHARED_CALLEES;
      // peers.connections holds the callees' connections first, in order.
      await leave(peers.connections[leaving]);
      const rest = await answers(caller, procedure, 4);
      assert.deepEqual(new Set(rest), new Set([0, 1, 2].filter((i) => i !== leaving)), `after ${leaving} left: ${rest}`);
      assert.ok(rest.every((v, i) => i === 0 || v !== rest[i - 1]), `two callees must alternate: ${rest}`);
    }),
  );

  test(name('first and last invoke the earliest and the latest registered callee'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const first = uniqueUri('first');
      const last = uniqueUri('last');
      await sharedCallees(peers, first, 'first');
      await sharedCallees(peers, last, 'last');
      const caller = await peers.connect('B');
      assert.deepEqual(await answers(caller, first, 3), [0, 0, 0]);
      assert.deepEqual(await answers(caller, last, 3), [2, 2, 2]);
    }),
  );

  test(name('random reaches every callee'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const procedure = uniqueUri('random');
      await sharedCallees(peers, procedure, 'random');
      const caller = await peers.connect('B');
      const reached = new Set();
      for (let i = 0; i < RANDOM_CALLS && reached.size < SHARED_CALLEES; i += 1) {
        reached.add(await within(caller.call(procedure)));
      }
      assert.deepEqual([...reached].sort(), [0, 1, 2]);
    }),
  );

  test(name('a single registration refuses shared registers'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const owner = await peers.connect('A');
      const other = await peers.connect('B');
      const procedure = uniqueUri('single');
      await within(owner.register(procedure, () => 'single'));
      for (const invoke of ['roundrobin', 'first', 'last', 'random', 'single']) {
        const error = await expectError(other.register(procedure, () => 'x', { invoke }));
        assert.equal(error.error, 'wamp.error.procedure_already_exists', invoke);
      }
      assert.equal(await within(other.call(procedure)), 'single');
    }),
  );

  // Crossbar 26.10 answers wamp.error.procedure_exists_with_different_invocation_policy.
  test(name('a shared registration refuses another policy crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const owner = await peers.connect('A');
      const other = await peers.connect('B');
      const procedure = uniqueUri('rr');
      await within(owner.register(procedure, () => 'rr', { invoke: 'roundrobin' }));
      for (const invoke of ['first', 'last', 'random', 'single', undefined]) {
        const options = invoke === undefined ? {} : { invoke };
        const error = await expectError(other.register(procedure, () => 'x', options));
        assert.equal(error.error, 'wamp.error.procedure_already_exists', String(invoke));
      }
    }),
  );
}
