// Routed RPC with autobahn-js on both ends: callee on port A, caller on port B
// (different shards on wampyard). Owns: args/kwargs round trips, application
// errors and no_such_procedure. Starts no router.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, TEST_TIMEOUT_MS, WIRES, reply, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

// 2^53: the largest integer WAMP ids use; a JS number holds it exactly.
const TWO_POW_53 = 2 ** 53;

// Binary travels as Buffer with MessagePack and CBOR. autobahn-js has no JSON
// binary convention (a Buffer would turn into {type, data}), so JSON skips it.
function payload(serializer) {
  const args = [
    'héllo wörld ✓ 日本語 🎉',
    '',
    TWO_POW_53,
    -TWO_POW_53,
    -1,
    -42,
    0,
    3.25,
    true,
    false,
    null,
    [1, [2, [3, ['deep', { k: [4, 5] }]]]],
    { outer: { inner: [1, 'zwei', 3.5, { 'ünï': 'cödé' }] }, list: [[], {}] },
  ];
  const kwargs = {
    unicode: 'Ωμέγα ∑ 😀',
    'ключ': 'значение',
    big: TWO_POW_53,
    negative: -(2 ** 31) - 7,
    nested: { a: [1, { b: [2, { c: 'd' }]}], e: null },
  };
  if (serializer !== 'json') {
    args.push(Buffer.from([0, 1, 2, 0xfe, 0xff]));
    kwargs.binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  }
  return { args, kwargs };
}

function echo(args, kwargs) {
  return new autobahn.Result(args, kwargs);
}

for (const wire of WIRES) {
  test(`call round-trips args and kwargs across shards [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const caller = await peers.connect('B');
      const procedure = uniqueUri('echo');
      await reply(callee.register(procedure, echo));

      const { args, kwargs } = payload(wire.serializer);
      const result = await reply(caller.call(procedure, args, kwargs));
      assert.ok(result instanceof autobahn.Result, 'several args come back as a Result');
      assert.deepStrictEqual(result.args, args);
      assert.deepStrictEqual(result.kwargs, kwargs);
      assert.strictEqual(result.args[2], TWO_POW_53);
      if (wire.serializer !== 'json') {
        assert.ok(Buffer.isBuffer(result.args[result.args.length - 1]), 'binary comes back as a Buffer');
      }
    }),
  );

  test(`application error reaches the caller with uri, args and kwargs [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(wire, async (peers) => {
      const callee = await peers.connect('A');
      const caller = await peers.connect('B');
      const procedure = uniqueUri('fail');
      const errorUri = uniqueUri('error.custom');
      await reply(
        callee.register(procedure, () => {
          throw new autobahn.Error(errorUri, ['first', 2, [3, { four: 'vier' }]], { code: 42, reason: 'ünïcode ✓' });
        }),
      );

      await assert.rejects(reply(caller.call(procedure, [1, 2])), (error) => {
        assert.strictEqual(error.error, errorUri);
        assert.deepStrictEqual(error.args, ['first', 2, [3, { four: 'vier' }]]);
        assert.deepStrictEqual(error.kwargs, { code: 42, reason: 'ünïcode ✓' });
        return true;
      });
    }),
  );

  test(`call to an unregistered procedure gives no_such_procedure [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS }, () =>
    withPeers(wire, async (peers) => {
      const caller = await peers.connect('B');
      await assert.rejects(reply(caller.call(uniqueUri('nobody.home'), [1])), (error) => {
        assert.strictEqual(error.error, 'wamp.error.no_such_procedure');
        return true;
      });
    }),
  );
}
