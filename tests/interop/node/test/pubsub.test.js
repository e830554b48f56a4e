// Publish/subscribe with autobahn-js: subscribers on ports A and B (different
// shards on wampyard) receive a burst in order. Owns: fan-out. Starts no router.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { TEST_TIMEOUT_MS, WIRES, reply, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// Subscribers in the fan-out test, alternating between ports A and B.
const SUBSCRIBERS = 4;
// Events in one burst.
const EVENTS = 50;

function inbox(expected) {
  const events = [];
  let done;
  const complete = new Promise((resolve) => {
    done = resolve;
  });
  const handler = (args, kwargs) => {
    events.push({ args, kwargs });
    if (events.length === expected) done(events);
  };
  return { events, handler, complete };
}

for (const wire of WIRES) {
  test(`fan-out burst reaches subscribers on both ports in order [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('fanout');
      const inboxes = [];
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const subscriber = await peers.connect(i % 2 === 0 ? 'A' : 'B');
        const box = inbox(EVENTS);
        await reply(subscriber.subscribe(topic, box.handler));
        inboxes.push(box);
      }
      const publisher = await peers.connect('A');

      const acks = [];
      for (let n = 0; n < EVENTS; n++) {
        acks.push(publisher.publish(topic, [n, `event-${n}`, 'ü✓'], { seq: n, big: 2 ** 53 }, { acknowledge: true }));
      }
      const publications = await reply(Promise.all(acks), 'publish acknowledgements');
      assert.strictEqual(new Set(publications.map((p) => p.id)).size, EVENTS, 'publication ids are distinct');

      const expected = Array.from({ length: EVENTS }, (_, n) => ({
        args: [n, `event-${n}`, 'ü✓'],
        kwargs: { seq: n, big: 2 ** 53 },
      }));
      for (const box of inboxes) {
        assert.deepStrictEqual(await reply(box.complete, 'all events'), expected);
      }
    }),
  );

  test(`publisher is excluded by default and included with exclude_me false [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(wire, async (peers) => {
      const topic = uniqueUri('self');
      const publisher = await peers.connect('A');
      const box = inbox(1);
      await reply(publisher.subscribe(topic, box.handler));
      await reply(publisher.publish(topic, ['excluded'], {}, { acknowledge: true }));
      await reply(publisher.publish(topic, ['included'], {}, { acknowledge: true, exclude_me: false }));
      // One publisher, one subscriber: in order, so "excluded" would come first.
      const [first] = await reply(box.complete, 'own event');
      assert.deepStrictEqual(first.args, ['included']);
    }),
  );
}
