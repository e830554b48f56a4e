// WAMP-Ticket logins and a restricted role with autobahn-js, on the ticket-only
// port WAMP_PORT_AUTH (realm `secure`; see tests/interop/router.toml and the
// third transport of crossbar/.crossbar/config.json). Owns: a ticket login
// through the Connection options `authmethods`, `authid` and `onchallenge`
// (WELCOME naming the principal), a wrong ticket closing the connection with
// wamp.error.not_authorized, and a call the `reader` role may not make refused
// with wamp.error.not_authorized while an allowed one works. Skipped without
// WAMP_PORT_AUTH. Starts no router.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { autobahn, SERIALIZERS, TEST_TIMEOUT_MS, WIRES, reply, uniqueUri, withPeers, wireName } = require('../lib/wamp.js');

const AUTH_PORT = Number(process.env.WAMP_PORT_AUTH) || 0;
const SKIP = AUTH_PORT ? false : 'WAMP_PORT_AUTH is not set: no ticket-only port to test';
const AUTH_REALM = 'secure';
const NOT_AUTHORIZED = 'wamp.error.not_authorized';
const TICKETS = { 'interop-writer': 'interop-writer-ticket', 'interop-reader': 'interop-reader-ticket' };
// Milliseconds a connect plus the CHALLENGE round may take.
const LOGIN_MS = 10000;

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

// Opens a ticket login of `authid` answering the CHALLENGE with `ticket`, on the
// test's wire; closed with the test's other sessions. Resolves with
// { session, welcome, challenges } once joined, or { closed: {reason, details},
// challenges } when the router refused the login.
function ticketLogin(peers, authid, ticket) {
  const { host, wsPath } = peers.router;
  const challenges = [];
  const options = {
    realm: AUTH_REALM,
    authmethods: ['ticket'],
    authid,
    onchallenge: (session, method, extra) => {
      challenges.push({ method, extra });
      return ticket;
    },
    max_retries: 0,
    retry_if_unreachable: false,
  };
  if (peers.wire.transport === 'websocket') {
    options.url = `ws://${host}:${AUTH_PORT}${wsPath}`;
    options.serializers = [SERIALIZERS[peers.wire.serializer]()];
  } else {
    options.transports = [{ type: 'rawsocket', host, port: AUTH_PORT }];
  }
  const connection = new autobahn.Connection(options);
  peers.connections.push(connection);
  const outcome = new Promise((resolve) => {
    connection.onopen = (session, welcome) => resolve({ session, welcome, challenges });
    connection.onclose = (reason, details) => {
      resolve({ closed: { reason, details }, challenges });
      return true;
    };
  });
  connection.open();
  return within(outcome, LOGIN_MS, `login of ${authid}`);
}

async function joined(peers, authid) {
  const login = await ticketLogin(peers, authid, TICKETS[authid]);
  assert.ok(login.session, `${authid} refused: ${JSON.stringify(login.closed)}`);
  return login;
}

for (const wire of WIRES) {
  test(`a ticket login answers one challenge and is welcomed as its principal [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS, skip: SKIP }, () =>
    withPeers(wire, async (peers) => {
      const { session, welcome, challenges } = await joined(peers, 'interop-writer');
      assert.deepStrictEqual(challenges, [{ method: 'ticket', extra: {} }]);
      assert.deepStrictEqual(
        [welcome.authid, welcome.authrole, welcome.authmethod, welcome.authprovider],
        ['interop-writer', 'writer', 'ticket', 'static'],
      );
      assert.strictEqual(session.realm, AUTH_REALM);
    }),
  );

  test(`a wrong ticket closes the connection with not_authorized [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS, skip: SKIP }, () =>
    withPeers(wire, async (peers) => {
      const login = await ticketLogin(peers, 'interop-writer', 'not-the-ticket');
      assert.ok(!login.session, 'the session must not join');
      assert.strictEqual(login.challenges.length, 1);
      assert.strictEqual(login.closed.details.reason, NOT_AUTHORIZED, JSON.stringify(login.closed));
    }),
  );

  test(`a call the role may not make is not_authorized, an allowed one works [${wireName(wire)}]`, { timeout: TEST_TIMEOUT_MS, skip: SKIP }, () =>
    withPeers(wire, async (peers) => {
      const writer = (await joined(peers, 'interop-writer')).session;
      const reader = (await joined(peers, 'interop-reader')).session;
      const allowed = uniqueUri('allowed').replace('com.interop.', 'com.interop.auth.public.');
      const forbidden = uniqueUri('forbidden').replace('com.interop.', 'com.interop.auth.private.');
      let forbiddenInvoked = false;
      await reply(writer.register(allowed, (args) => args[0]));
      await reply(
        writer.register(forbidden, () => {
          forbiddenInvoked = true;
        }),
      );
      await assert.rejects(reply(reader.call(forbidden, [1])), (err) => {
        assert.ok(err instanceof autobahn.Error, `an autobahn.Error, got ${err}`);
        assert.strictEqual(err.error, NOT_AUTHORIZED);
        return true;
      });
      await assert.rejects(reply(reader.call('wamp.session.count')), (err) => err.error === NOT_AUTHORIZED);
      assert.strictEqual(await reply(reader.call(allowed, ['fine'])), 'fine');
      assert.strictEqual(forbiddenInvoked, false);
    }),
  );
}
