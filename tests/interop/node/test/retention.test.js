// Event retention and event history with autobahn-js on every end: publishers
// on port A, subscribers on port B (different shards on wampyard). Owns:
// PUBLISH.Options retain (with acknowledge) and SUBSCRIBE.Options get_retained
// as autobahn-js puts them on the wire, the handler's details.retained,
// pattern subscriptions getting each matching topic's retained event, and
// wamp.subscription.get_events through session.call. Starts no router.
//
// The history tests use the [[realm.history]] rule of tests/interop/router.toml:
// every topic under com.interop.history keeps its last 1000 events, and
// get_events answers for a prefix subscription to exactly that topic; each test
// narrows the answer to its own topic with `topic`. The reader calls from the
// publisher's port: on wampyard a shard sends the events it publishes to the
// rule's shard before any later question from that shard.
//
// "Nothing else was retained" is proven without sleeping: after a get_retained
// subscription the subscriber calls wamp.session.count and looks at what
// arrived before its result (on wampyard that call asks every shard after the
// retained events were asked for; Crossbar sends the retained event with
// SUBSCRIBED).
//
// Tests whose name says "crossbar_differs" hold wampyard's behaviour where
// Crossbar.io 26.10 does otherwise; the comment above each says what Crossbar
// does. Run without them:
//   node --test --test-name-pattern='^(?!.*crossbar_differs).*\]$' test/retention.test.js
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, SERIALIZERS, WIRES, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// Milliseconds the router may take for anything it must do at once.
const PROMPT_MS = 2000;
// Milliseconds one whole test may run.
const TEST_MS = 15000;
// The topic (and prefix) of the history rule in tests/interop/router.toml.
const HISTORY = 'com.interop.history';
const GET_EVENTS = 'wamp.subscription.get_events';
const RETAIN = { retain: true, acknowledge: true };

function within(promise, ms = PROMPT_MS, what = 'router answer') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

// Joins a session on port A or B like peers.connect, keeping its WELCOME.Details
// as `session.welcome`. The session is closed with the test's others.
function connect(peers, side) {
  const { host, ports, realm, wsPath } = peers.router;
  const options = { realm, max_retries: 0, retry_if_unreachable: false };
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

// Subscribes with get_retained (and `options`); returns the subscription and
// the events it got before the result of a sentinel call.
async function subscribeRetained(session, topic, options = {}) {
  const events = [];
  const handler = (args, kwargs, details) => events.push({ args, kwargs, details });
  const subscription = await within(session.subscribe(topic, handler, { get_retained: true, ...options }));
  await within(session.call('wamp.session.count'));
  return { subscription, events: [...events] };
}

// A topic the router.toml history rule keeps, unique to this run.
function historyTopic(name) {
  return `${HISTORY}.js${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e9).toString(36)}.${name}`;
}

// A session on port A holding the prefix subscription of the history rule.
async function historyReader(peers) {
  const reader = await connect(peers, 'A');
  const subscription = await within(reader.subscribe(HISTORY, () => {}, { match: 'prefix' }));
  return { reader, id: subscription.id };
}

async function expectError(promise) {
  try {
    const value = await within(promise);
    assert.fail(`expected a WAMP error, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (!(error instanceof autobahn.Error)) throw error;
    return error.error;
  }
}

for (const wire of WIRES) {
  const name = (what) => `${what} [${wireName(wire)}]`;

  test(name('WELCOME announces event_retention'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const session = await connect(peers, 'A');
      assert.equal(session.welcome.roles.broker.features.event_retention, true);
    }),
  );

  // Crossbar 26.10 does not announce event_history.
  test(name('WELCOME announces event_history crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const session = await connect(peers, 'A');
      assert.equal(session.welcome.roles.broker.features.event_history, true);
    }),
  );

  test(name('a retained event reaches a later get_retained subscriber on port B, marked retained'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('retained');
      const publisher = await connect(peers, 'A');
      await within(publisher.publish(topic, ['x', 42], { k: 'v' }, RETAIN));
      const subscriber = await connect(peers, 'B');
      const { events } = await subscribeRetained(subscriber, topic);
      assert.equal(events.length, 1, JSON.stringify(events));
      const [{ args, kwargs, details }] = events;
      assert.deepEqual([args, kwargs], [['x', 42], { k: 'v' }]);
      assert.equal(details.retained, true);
      assert.equal(details.topic, topic);
      // A subscriber that did not ask gets nothing.
      const plain = await connect(peers, 'B');
      assert.deepEqual((await subscribeRetained(plain, topic, { get_retained: false })).events, []);
    }),
  );

  // Crossbar 26.10 gives each retained EVENT a publication ID of its own.
  test(name('a retained event carries the publication id it was published with crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('original');
      const publisher = await connect(peers, 'A');
      const publication = await within(publisher.publish(topic, ['x'], {}, RETAIN));
      const subscriber = await connect(peers, 'B');
      const { events } = await subscribeRetained(subscriber, topic);
      assert.equal(events[0].details.publication, publication.id);
    }),
  );

  test(name('only the latest retained event is kept and a plain publication leaves it'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('latest');
      const first = await connect(peers, 'A');
      const second = await connect(peers, 'B');
      await within(first.publish(topic, ['first'], {}, RETAIN));
      await within(second.publish(topic, ['second'], {}, RETAIN));
      await within(first.publish(topic, ['plain'], {}, { acknowledge: true }));
      const subscriber = await connect(peers, 'B');
      const { events } = await subscribeRetained(subscriber, topic);
      assert.deepEqual(events.map((e) => e.args[0]), ['second']);
    }),
  );

  // Crossbar 26.10 sends retained events to exact subscriptions only.
  test(name('a pattern subscription gets every matching topic\'s retained event with its topic crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const base = uniqueUri('pattern');
      const topics = [`${base}.a.x`, `${base}.b.x`, `${base}.c.y`];
      const publisher = await connect(peers, 'A');
      for (const topic of topics) await within(publisher.publish(topic, [topic], {}, RETAIN));
      const cases = [
        [base, 'prefix', topics],
        [`${base}..x`, 'wildcard', topics.slice(0, 2)],
      ];
      for (const [pattern, match, wanted] of cases) {
        const subscriber = await connect(peers, 'B');
        const { events } = await subscribeRetained(subscriber, pattern, { match });
        const seen = events.map((e) => [e.details.topic, e.args[0], e.details.retained]).sort();
        assert.deepEqual(seen, wanted.map((t) => [t, t, true]).sort(), `${match} ${pattern}`);
      }
    }),
  );

  // Crossbar 26.10's get_events takes only (subscription, limit): `topic` gets
  // wamp.error.runtime_error; the committed Crossbar config keeps no history.
  test(name('get_events gives a topic\'s events oldest first, with limit and reverse crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = historyTopic('order');
      const publisher = await connect(peers, 'A');
      const ids = [];
      for (let i = 1; i <= 4; i += 1) {
        ids.push((await within(publisher.publish(topic, [`e${i}`], { n: i }, { acknowledge: true }))).id);
      }
      const { reader, id } = await historyReader(peers);
      const get = async (named) => {
        const events = await within(reader.call(GET_EVENTS, [id], { topic, ...named }));
        return events.map((e) => e.args[0]);
      };
      const events = await within(reader.call(GET_EVENTS, [id], { topic }));
      assert.deepEqual(events.map((e) => e.args), [['e1'], ['e2'], ['e3'], ['e4']]);
      assert.deepEqual(events.map((e) => e.kwargs), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      assert.deepEqual(events.map((e) => e.publication), ids);
      for (const e of events) {
        assert.equal(e.topic, topic);
        assert.equal(e.subscription, id);
        assert.ok(!Number.isNaN(Date.parse(e.timestamp)), `timestamp ${e.timestamp}`);
      }
      assert.deepEqual(await get({ limit: 2 }), ['e3', 'e4']);
      assert.deepEqual(await get({ limit: 2, reverse: true }), ['e4', 'e3']);
      assert.deepEqual(await get({ after_publication: ids[0], until_publication: ids[2] }), ['e2', 'e3']);
    }),
  );

  // Crossbar 26.10 without a realm store answers wamp.error.history_unavailable.
  test(name('get_events of an unknown subscription is no_such_subscription crossbar_differs'), { timeout: TEST_MS }, () =>
    withPeers(wire, async (peers) => {
      const { reader, id } = await historyReader(peers);
      assert.equal(await expectError(reader.call(GET_EVENTS, [4503599627370495])), 'wamp.error.no_such_subscription');
      assert.equal(await expectError(reader.call(GET_EVENTS, [id], { reverse: 'yes' })), 'wamp.error.invalid_argument');
    }),
  );
}
