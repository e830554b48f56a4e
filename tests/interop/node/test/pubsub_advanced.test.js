// Advanced Profile Pub/Sub with autobahn-js on every end: subscribers on ports A
// and B in turn (different shards on wampyard), publishers on A. Owns: publisher
// identification (disclose_me gives EVENT.Details publisher, publisher_authid,
// publisher_authrole) and subscriber black- and whitelisting (eligible, exclude,
// eligible_authid, exclude_authid, combined with exclude_me). autobahn-js puts
// publish options on the wire exactly as given; sessions with an authid of their
// own send it in HELLO (Connection option `authid`, see connectAs). Expected
// deliveries are computed from the authid each session got in WELCOME. Starts no
// router.
//
// "Nobody else got it" is proven without sleeping: events from one publisher
// reach one subscriber in order, so a sentinel published to everyone after the
// event under test shows what arrived before it.
//
// Tests whose name says "crossbar_differs" hold the spec's behaviour where
// Crossbar.io 26.10 does otherwise; the comment above each says what Crossbar
// does. Run without them:
//   node --test --test-name-pattern='^(?!.*crossbar_differs).*\]$' test/pubsub_advanced.test.js
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, SERIALIZERS, WIRES, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// Milliseconds the router may take for anything it must do at once (an event,
// an acknowledgement); short so a router that never answers fails fast.
const PROMPT_MS = 2000;
// Milliseconds one whole test may run.
const TEST_MS = 15000;
const SENTINEL = 'sentinel';

function within(promise, ms = PROMPT_MS, what = 'router answer') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

// Joins a session on port A or B like peers.connect, sending `authid` in HELLO
// (none when undefined). The session is closed with the test's others. Its
// WELCOME.Details are kept as `session.welcome`.
function connectAs(peers, side, authid) {
  const { host, ports, realm, wsPath } = peers.router;
  const options = { realm, max_retries: 0, retry_if_unreachable: false };
  if (authid !== undefined) options.authid = authid;
  if (peers.wire.transport === 'websocket') {
    options.url = `ws://${host}:${ports[side]}${wsPath}`;
    options.serializers = [SERIALIZERS[peers.wire.serializer]()];
  } else {
    options.transports = [{ type: 'rawsocket', host, port: ports[side] }];
  }
  const connection = new autobahn.Connection(options);
  peers.connections.push(connection);
  const joined = new Promise((resolve, reject) => {
    connection.onopen = (session, details) => {
      session.welcome = details;
      resolve(session);
    };
    connection.onclose = (reason, details) => {
      reject(new Error(`connection closed before join: ${reason} ${JSON.stringify(details)}`));
      return true;
    };
  });
  connection.open();
  return within(joined, 10000, `join on port ${side}`);
}

// The events of one subscription, with their details.
class Inbox {
  constructor() {
    this.events = [];
    this.read = 0;
    this.waiters = [];
    this.handler = (args, kwargs, details) => {
      this.events.push({ args, details });
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    };
  }

  async next() {
    while (this.events.length <= this.read) {
      await within(new Promise((resolve) => this.waiters.push(resolve)), PROMPT_MS, 'event');
    }
    this.read += 1;
    return this.events[this.read - 1];
  }

  // The first arguments of the events before the next sentinel.
  async untilSentinel() {
    const tags = [];
    for (;;) {
      const { args } = await this.next();
      if (args[0] === SENTINEL) return tags;
      tags.push(args[0]);
    }
  }
}

// Subscribers of topic joined with authids (undefined: none), on A and B in turn.
async function subscribeAll(peers, topic, authids) {
  const subs = [];
  const inboxes = [];
  const ids = new Set();
  for (let i = 0; i < authids.length; i += 1) {
    const sub = await connectAs(peers, i % 2 === 0 ? 'A' : 'B', authids[i]);
    const inbox = new Inbox();
    ids.add((await within(sub.subscribe(topic, inbox.handler))).id);
    subs.push(sub);
    inboxes.push(inbox);
  }
  assert.equal(ids.size, 1, 'one subscription per topic');
  return { subs, inboxes };
}

// Publishes tag with options (acknowledged), then the sentinel to everyone;
// returns who got tag.
async function whoGot(publisher, topic, inboxes, tag, options) {
  await within(publisher.publish(topic, [tag], {}, { ...options, acknowledge: true }));
  await within(publisher.publish(topic, [SENTINEL], {}, { acknowledge: true, exclude_me: false }));
  const got = [];
  for (const inbox of inboxes) got.push(await inbox.untilSentinel());
  for (const g of got) assert.ok(g.length === 0 || (g.length === 1 && g[0] === tag), `unexpected events: ${JSON.stringify(got)}`);
  return got.map((g) => g.length === 1);
}

for (const wire of WIRES) {
  const name = (what) => `${what} [${wireName(wire)}]`;

  test(name('WELCOME announces publisher_identification and subscriber_blackwhite_listing'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const session = await connectAs(peers, 'A');
      assert.equal(session.features.publisher.publisher_identification, true);
      assert.equal(session.features.publisher.subscriber_blackwhite_listing, true);
      assert.equal(session.features.publisher.publisher_exclusion, true);
    }),
  );

  // Crossbar 26.10 ignores PUBLISH.Options.disclose_me: only its role
  // configuration ("disclose": {"publisher": false} in the test config) decides.
  test(name('disclose_me gives subscribers the publisher session, authid and authrole crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('disclosed');
      const { inboxes } = await subscribeAll(peers, topic, [undefined, undefined]);
      const publisher = await connectAs(peers, 'A', 'alice');
      await within(publisher.publish(topic, ['x'], {}, { acknowledge: true, disclose_me: true }));
      for (const inbox of inboxes) {
        const { args, details } = await inbox.next();
        assert.deepEqual(args, ['x']);
        assert.equal(details.publisher, publisher.id);
        assert.equal(details.publisher_authid, publisher.welcome.authid);
        assert.equal(details.publisher_authrole, publisher.welcome.authrole);
      }
    }),
  );

  test(name('the publisher stays hidden without disclose_me'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('hidden');
      const { inboxes } = await subscribeAll(peers, topic, [undefined, undefined]);
      const publisher = await connectAs(peers, 'A', 'alice');
      await within(publisher.publish(topic, ['x'], {}, { acknowledge: true }));
      await within(publisher.publish(topic, ['y'], {}, { acknowledge: true, disclose_me: false }));
      for (const inbox of inboxes) {
        for (const tag of ['x', 'y']) {
          const { args, details } = await inbox.next();
          assert.deepEqual(args, [tag]);
          assert.deepEqual([details.publisher, details.publisher_authid, details.publisher_authrole], [undefined, undefined, undefined]);
        }
      }
    }),
  );

  test(name('eligible delivers only to the listed sessions'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('eligible');
      const { subs, inboxes } = await subscribeAll(peers, topic, [undefined, undefined, undefined, undefined]);
      const ids = subs.map((s) => s.id);
      const publisher = await connectAs(peers, 'A');
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'a', { eligible: [ids[0], ids[3]] }), [true, false, false, true]);
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'b', { eligible: [publisher.id, ids[1]] }), [false, true, false, false]);
    }),
  );

  test(name('exclude drops the listed sessions'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('exclude');
      const { subs, inboxes } = await subscribeAll(peers, topic, [undefined, undefined, undefined, undefined]);
      const ids = subs.map((s) => s.id);
      const publisher = await connectAs(peers, 'A');
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'a', { exclude: [ids[1], ids[2]] }), [true, false, false, true]);
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'b', { exclude: [ids[3]] }), [true, true, true, false]);
    }),
  );

  test(name('eligible_authid and exclude_authid select subscribers by authid'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('authid');
      const { subs, inboxes } = await subscribeAll(peers, topic, ['alice', 'alice', 'bob', undefined]);
      const authids = subs.map((s) => s.welcome.authid);
      const publisher = await connectAs(peers, 'A', 'alice');
      const cases = [
        ['a', { eligible_authid: [authids[0]] }, (a) => a === authids[0]],
        ['b', { eligible_authid: [authids[2], authids[3]] }, (a) => a === authids[2] || a === authids[3]],
        ['c', { exclude_authid: [authids[0]] }, (a) => a !== authids[0]],
        ['d', { exclude_authid: ['nobody', authids[2]] }, (a) => a !== authids[2]],
      ];
      for (const [tag, lists, admits] of cases) {
        const got = await whoGot(publisher, topic, inboxes, tag, lists);
        assert.deepEqual(got, authids.map(admits), `${JSON.stringify(lists)} with authids ${authids}`);
      }
    }),
  );

  test(name('every list must admit a subscriber and no blacklist may name it'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('combined');
      const { subs, inboxes } = await subscribeAll(peers, topic, ['alice', 'alice', 'bob', 'carol']);
      const ids = subs.map((s) => s.id);
      const authids = subs.map((s) => s.welcome.authid);
      const role = subs[0].welcome.authrole;
      const publisher = await connectAs(peers, 'A');
      const lists = { eligible: [ids[0], ids[1], ids[2]], eligible_authid: [authids[0], authids[2]], exclude: [ids[1]] };
      const expected = ids.map(
        (id, i) => lists.eligible.includes(id) && lists.eligible_authid.includes(authids[i]) && !lists.exclude.includes(id),
      );
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'a', lists), expected);
      const roles = { eligible: [ids[2], ids[3]], eligible_authrole: [role], exclude_authrole: ['admin'] };
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'b', roles), [false, false, true, true]);
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'c', { exclude_authrole: [role] }), [false, false, false, false]);
    }),
  );

  // Crossbar 26.10 treats an empty eligible list as no list (everyone gets the event).
  test(name('an empty eligible list admits nobody crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('empty');
      const { inboxes } = await subscribeAll(peers, topic, ['alice', undefined]);
      const publisher = await connectAs(peers, 'A');
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'a', { eligible: [] }), [false, false]);
      assert.deepEqual(await whoGot(publisher, topic, inboxes, 'b', { eligible_authid: [] }), [false, false]);
    }),
  );

  test(name('exclude_me false lets an eligible publisher receive its own event'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('self');
      const publisher = await connectAs(peers, 'A', 'publisher');
      const own = new Inbox();
      await within(publisher.subscribe(topic, own.handler));
      const { subs, inboxes } = await subscribeAll(peers, topic, ['other', 'other']);
      const everyone = [own, ...inboxes];
      const me = publisher.id;
      assert.deepEqual(await whoGot(publisher, topic, everyone, 'a', { exclude_me: false, eligible: [me] }), [true, false, false]);
      // exclude_me (true by default) still excludes an eligible publisher.
      assert.deepEqual(await whoGot(publisher, topic, everyone, 'b', { eligible: [me, subs[0].id] }), [false, true, false]);
      // A blacklist naming the publisher wins over exclude_me false.
      assert.deepEqual(await whoGot(publisher, topic, everyone, 'c', { exclude_me: false, exclude: [me] }), [false, true, true]);
    }),
  );

  // Crossbar 26.10 validates PUBLISH.Options while decoding and drops the
  // connection instead of answering.
  test(name('a list of the wrong type gets wamp.error.invalid_argument crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('badlist');
      const { inboxes } = await subscribeAll(peers, topic, [undefined]);
      const publisher = await connectAs(peers, 'A');
      for (const bad of [{ eligible: 'x' }, { exclude: ['1'] }, { eligible_authid: [7] }, { exclude_authrole: 'admin' }]) {
        let error;
        try {
          await within(publisher.publish(topic, ['bad'], {}, { acknowledge: true, ...bad }));
        } catch (e) {
          error = e;
        }
        assert.ok(error instanceof autobahn.Error, `${JSON.stringify(bad)}: expected a WAMP error, got ${error}`);
        assert.equal(error.error, 'wamp.error.invalid_argument', JSON.stringify(bad));
      }
      // Nothing was delivered and the session goes on.
      await within(publisher.publish(topic, [SENTINEL], {}, { acknowledge: true }));
      assert.deepEqual(await inboxes[0].untilSentinel(), []);
    }),
  );
}
