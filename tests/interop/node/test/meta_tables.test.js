// The subscription and registration meta API, revocation and sharded
// registration with autobahn-js: the sessions concerned on port A, watchers,
// callers and the admin on port B (different shards on wampyard). Owns: the
// lifecycle events (wamp.subscription.on_create / on_subscribe / on_unsubscribe
// / on_delete, wamp.registration.on_create / on_register / on_unregister /
// on_delete), list_subscribers and count_subscribers, remove_subscriber and
// remove_callee (autobahn-js 22.11.1 announces subscription_revocation and
// registration_revocation and resolves the subscription's `on_unsubscribe` /
// the registration's `on_unregister` with the reason), and CALL with runmode
// "partition" (autobahn-js puts call options on the wire as given). Starts no
// router.
//
// Other test files may run at the same time against the same realm, so events
// are picked out by session ID.
//
// Tests whose name says "crossbar_differs" hold wampyard's behaviour where
// Crossbar.io 26.10 does otherwise; the comment above each says what Crossbar
// does. Run without them:
//   node --test --test-name-pattern='^(?!.*crossbar_differs).*\]$'
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, WIRES, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// Milliseconds the router may take for anything it must do at once (a reply, a
// meta event, a notice); short so a router that never does it fails fast.
const PROMPT_MS = 2000;
// Milliseconds one whole test may run.
const TEST_MS = 10000;
// Callees of the sharded registration and partition keys per check: a callee
// misses all 24 keys with probability (2/3)**24 ~ 6e-5.
const CALLEES = 3;
const KEYS = 24;
const REASON = 'com.example.revoked';

const TABLES = {
  subscription: ['on_create', 'on_subscribe', 'on_unsubscribe', 'on_delete'],
  registration: ['on_create', 'on_register', 'on_unregister', 'on_delete'],
};

function within(promise, ms = PROMPT_MS, what = 'router answer') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

async function expectError(promise) {
  try {
    const value = await within(promise, PROMPT_MS, 'WAMP error');
    assert.fail(`expected a WAMP error, got success: ${JSON.stringify(value)}`);
  } catch (error) {
    if (!(error instanceof autobahn.Error)) throw error;
    return error;
  }
}

// The lifecycle events one session receives, as [event, session, id or details].
class Watch {
  constructor() {
    this.seen = [];
    this.waiters = [];
  }

  static async start(session) {
    const watch = new Watch();
    for (const [table, events] of Object.entries(TABLES)) {
      for (const event of events) {
        const name = `${table}.${event}`;
        await within(
          session.subscribe(`wamp.${name}`, (args) => {
            watch.seen.push([name, args[0], args[1]]);
            const waiters = watch.waiters;
            watch.waiters = [];
            for (const wake of waiters) wake();
          }),
        );
      }
    }
    return watch;
  }

  // Waits for [event, session, id] to arrive.
  until(event, session, id) {
    const wait = async () => {
      for (;;) {
        if (this.seen.some(([e, s, a]) => e === event && s === session && a === id)) return;
        await new Promise((resolve) => this.waiters.push(resolve));
      }
    };
    return within(wait(), PROMPT_MS, `${event} of session ${session}`);
  }

  // [event, id or details] of the events about one session, in the order they came.
  about(session) {
    return this.seen.filter(([, s]) => s === session).map(([e, , a]) => [e, a]);
  }
}

// CALLEES callees of one roundrobin registration, on A and B in turn; callee i answers i.
async function partitionCallees(peers, procedure) {
  const ids = new Set();
  for (let index = 0; index < CALLEES; index += 1) {
    const callee = await peers.connect(index % 2 === 0 ? 'A' : 'B');
    const registration = await within(callee.register(procedure, () => index, { invoke: 'roundrobin' }));
    ids.add(registration.id);
  }
  assert.equal(ids.size, 1, `one shared registration, got ${[...ids]}`);
}

function owner(caller, procedure, key) {
  return within(caller.call(procedure, [], {}, { runmode: 'partition', rkey: key }));
}

for (const wire of WIRES) {
  const name = (what) => `${what} [${wireName(wire)}]`;

  test(name('subscription lifecycle events of sessions on both ports arrive in order'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const watch = await Watch.start(await peers.connect('B'));
      const first = await peers.connect('A');
      const second = await peers.connect('B');
      const topic = uniqueUri('t');
      const sub = await within(first.subscribe(topic, () => {}));
      const again = await within(second.subscribe(topic, () => {}));
      assert.equal(again.id, sub.id);
      const details = await within(second.call('wamp.subscription.get', [sub.id]));
      assert.deepEqual([details.id, details.uri, details.match], [sub.id, topic, 'exact']);
      await within(first.unsubscribe(sub));
      // Every shard answers count_subscribers: the home of the subscription then has
      // first's change, so it is second's that deletes the subscription.
      assert.equal(await within(second.call('wamp.subscription.count_subscribers', [sub.id])), 1);
      await within(second.unsubscribe(again));
      await watch.until('subscription.on_delete', second.id, sub.id);
      assert.deepEqual(watch.about(first.id), [
        ['subscription.on_create', details],
        ['subscription.on_subscribe', sub.id],
        ['subscription.on_unsubscribe', sub.id],
      ]);
      assert.deepEqual(watch.about(second.id), [
        ['subscription.on_subscribe', sub.id],
        ['subscription.on_unsubscribe', sub.id],
        ['subscription.on_delete', sub.id],
      ]);
    }),
  );

  test(name('registration lifecycle events of sessions on both ports arrive in order'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const watch = await Watch.start(await peers.connect('B'));
      const first = await peers.connect('A');
      const second = await peers.connect('B');
      const procedure = uniqueUri('p');
      const reg = await within(first.register(procedure, () => 1, { invoke: 'roundrobin' }));
      const other = await within(second.register(procedure, () => 2, { invoke: 'roundrobin' }));
      assert.equal(other.id, reg.id);
      const details = await within(second.call('wamp.registration.get', [reg.id]));
      assert.deepEqual([details.id, details.uri, details.invoke], [reg.id, procedure, 'roundrobin']);
      await within(first.unregister(reg));
      await within(second.call('wamp.session.count')); // every shard answers: the home has first's change
      await within(second.unregister(other));
      await watch.until('registration.on_delete', second.id, reg.id);
      assert.deepEqual(watch.about(first.id), [
        ['registration.on_create', details],
        ['registration.on_register', reg.id],
        ['registration.on_unregister', reg.id],
      ]);
      assert.deepEqual(watch.about(second.id), [
        ['registration.on_register', reg.id],
        ['registration.on_unregister', reg.id],
        ['registration.on_delete', reg.id],
      ]);
    }),
  );

  test(name('list_subscribers and count_subscribers see subscribers on both ports'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const caller = await peers.connect('B');
      const topic = uniqueUri('t');
      const subscribers = [];
      const subs = [];
      for (const side of ['A', 'B', 'A']) {
        const s = await peers.connect(side);
        subscribers.push(s);
        subs.push(await within(s.subscribe(topic, () => {})));
      }
      const id = subs[0].id;
      assert.ok(subs.every((s) => s.id === id), 'one subscription');
      const ids = (list) => [...list].sort((a, b) => a - b);
      const listed = await within(caller.call('wamp.subscription.list_subscribers', [id]));
      assert.deepEqual(ids(listed), ids(subscribers.map((s) => s.id)));
      assert.equal(await within(caller.call('wamp.subscription.count_subscribers', [id])), 3);
      await within(subscribers[1].unsubscribe(subs[1]));
      const after = await within(caller.call('wamp.subscription.list_subscribers', [id]));
      assert.deepEqual(ids(after), ids([subscribers[0].id, subscribers[2].id]));
      const error = await expectError(caller.call('wamp.subscription.count_subscribers', [999999999]));
      assert.equal(error.error, 'wamp.error.no_such_subscription');
    }),
  );

  test(name('remove_subscriber resolves the subscription on_unsubscribe with the reason'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const admin = await peers.connect('B');
      const publisher = await peers.connect('B');
      const revoked = await peers.connect('A');
      const topic = uniqueUri('t');
      const got = [];
      const sub = await within(revoked.subscribe(topic, (args) => got.push(args[0])));
      let sentinel;
      const arrived = new Promise((resolve) => {
        sentinel = resolve;
      });
      const after = uniqueUri('after');
      await within(revoked.subscribe(after, (args) => sentinel(args[0])));
      const answer = await within(admin.call('wamp.subscription.remove_subscriber', [sub.id, revoked.id, REASON]));
      assert.equal(answer, null, 'remove_subscriber answers with no result');
      assert.equal(await within(sub.on_unsubscribe, PROMPT_MS, 'on_unsubscribe'), REASON);
      assert.equal(sub.active, false);
      assert.ok(revoked.isOpen, 'the revoked session stays');
      // Events of one publisher arrive in order: once the sentinel is in, an event
      // of the revoked subscription would have been too.
      await within(publisher.publish(topic, ['revoked'], {}, { acknowledge: true }));
      await within(publisher.publish(after, ['sentinel'], {}, { acknowledge: true }));
      assert.equal(await within(arrived, PROMPT_MS, 'sentinel'), 'sentinel');
      assert.deepEqual(got, []);
    }),
  );

  // Crossbar 26.10 fails wamp.registration.remove_callee with wamp.error.runtime_error
  // ("'NoneType' object has no attribute 'forward_for'") and sends no notice.
  test(name('remove_callee resolves the registration on_unregister with the reason crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const admin = await peers.connect('B');
      const callee = await peers.connect('A');
      const procedure = uniqueUri('p');
      const reg = await within(callee.register(procedure, () => 'served'));
      const answer = await within(admin.call('wamp.registration.remove_callee', [reg.id, callee.id, REASON]));
      assert.equal(answer, null, 'remove_callee answers with no result');
      assert.equal(await within(reg.on_unregister, PROMPT_MS, 'on_unregister'), REASON);
      assert.equal(reg.active, false);
      assert.ok(callee.isOpen, 'the revoked session stays');
      const error = await expectError(admin.call(procedure));
      assert.equal(error.error, 'wamp.error.no_such_procedure');
    }),
  );

  // Crossbar 26.10 has no sharded registrations: it ignores runmode and rkey and
  // invokes by the registration's policy (roundrobin here).
  test(name('a partition key reaches the same callee from both ports crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const procedure = uniqueUri('p');
      await partitionCallees(peers, procedure);
      const onA = await peers.connect('A');
      const onB = await peers.connect('B');
      const keys = Array.from({ length: KEYS }, (_, i) => `device-${i}`);
      const owners = [];
      // Each key from A, B and A again in a row: a policy such as round robin
      // would send consecutive calls to different callees.
      for (const key of keys) {
        const served = [await owner(onA, procedure, key), await owner(onB, procedure, key)];
        served.push(await owner(onA, procedure, key));
        assert.deepEqual(served, [served[0], served[0], served[0]], `key ${key} from both ports`);
        owners.push(served[0]);
      }
      assert.deepEqual([...new Set(owners)].sort(), [0, 1, 2], `${KEYS} keys reach every callee: ${owners}`);
      const error = await expectError(onB.call(procedure, [], {}, { runmode: 'partition' }));
      assert.equal(error.error, 'wamp.error.invalid_argument', 'runmode without rkey');
    }),
  );
}
