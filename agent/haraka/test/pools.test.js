'use strict';
// The Haraka plugin's pool routing, its pure parts: settings, host:port, binding each MX address
// to an allowed source of its IP version, and the MX list (null MX, implicit MX, route).  The real
// Haraka runs it in tests/agent/test_haraka_pools.py.
const test = require('node:test');
const assert = require('node:assert/strict');

const { poolSettings, bindMx, mxAddresses, splitHostPort } = require('../pools.js');
const { PoolClient } = require('../../js/mailmon-pools.js');

const quiet = { info() {}, warn() {}, error() {} };

function client(ips, noIp) {
    const c = new PoolClient({ url: 'http://127.0.0.1:9', apiKey: 'k', logger: quiet, noIp, random: () => 0 });
    c.answer = { pools: [{ id: 1, name: 'transactional', ips }, { id: 2, name: 'marketing', ips: [] }] };
    return c;
}

/** A resolver answering from a table (Node's dns.promises.Resolver methods). */
function resolver(table) {
    const answer = (kind) => async (name) => {
        const value = table[`${kind} ${name}`];
        if (value instanceof Error) throw value;
        if (!value) throw Object.assign(new Error(`no ${kind} for ${name}`), { code: 'ENODATA' });
        return value;
    };
    return { resolveMx: answer('MX'), resolve4: answer('A'), resolve6: answer('AAAA') };
}

test('settings: off unless enabled, checked interval, route and resolvers parsed', () => {
    assert.equal(poolSettings({}).enabled, false);
    const s = poolSettings({ pools: { enabled: true, interval: '2', route: '[::1]:2525', dns_servers: '127.0.0.1, ::1' }, senders: { 'a.example': 'p' } });
    assert.deepEqual([s.enabled, s.intervalMs, s.route, s.dnsServers, s.noIp], [true, 2000, ['::1', 2525], ['127.0.0.1', '::1'], 'defer']);
    assert.throws(() => poolSettings({ pools: { interval: 'x' } }), /\[pools\] interval/);
    assert.deepEqual(splitHostPort('relay.example', 25), ['relay.example', 25]);
    assert.deepEqual(splitHostPort('127.0.0.1:2525', 25), ['127.0.0.1', 2525]);
    assert.deepEqual(splitHostPort('2001:db8::1', 25), ['2001:db8::1', 25]);
});

test('each MX address is bound to an allowed source of its own IP version', () => {
    const c = client([
        { address: '198.51.100.1', version: 4, weight: 100, remaining: null },
        { address: '2001:db8::1', version: 6, weight: 100, remaining: null },
    ]);
    const mxs = [{ exchange: '203.0.113.5', priority: 10 }, { exchange: '2001:db8:ff::5', priority: 10 }];
    const { mxs: bound } = bindMx(c, 'transactional', mxs, { count: 3, helo: { '198.51.100.1': 'o1.example' }, me: 'mx.example' });
    assert.deepEqual(bound.map((m) => [m.exchange, m.bind, m.bind_helo]), [
        ['203.0.113.5', '198.51.100.1', 'o1.example'], ['2001:db8:ff::5', '2001:db8::1', 'mx.example'],
    ]);
    assert.equal(c.usedBy('198.51.100.1'), 3, 'every recipient counts');
    assert.equal(c.usedBy('2001:db8::1'), 0, 'one message is counted once');
});

test('MX addresses of a version the pool lacks are dropped; none left means the pool decides', () => {
    const c = client([{ address: '198.51.100.1', version: 4, weight: 100, remaining: null }]);
    const mixed = bindMx(c, 'transactional', [{ exchange: '2001:db8:ff::5' }, { exchange: '203.0.113.5' }], { count: 1, helo: {} });
    assert.deepEqual(mixed.mxs.map((m) => m.exchange), ['203.0.113.5']);
    const v6only = bindMx(c, 'transactional', [{ exchange: '2001:db8:ff::5' }], { count: 1, helo: {} });
    assert.equal(v6only.decision.action, 'defer');
    assert.equal(bindMx(c, 'marketing', [{ exchange: '203.0.113.5' }], { count: 1, helo: {} }).decision.action, 'defer');
    const lenient = client([], 'default');
    assert.equal(bindMx(lenient, 'transactional', [{ exchange: '203.0.113.5' }], { count: 1, helo: {} }).decision.action, 'default');
});

test('the MX list: by priority, each host resolved; implicit MX; null MX; a fixed route', async () => {
    const dns = resolver({
        'MX shop.example': [{ exchange: 'mx2.shop.example', priority: 20 }, { exchange: 'mx1.shop.example', priority: 10 }],
        'A mx1.shop.example': ['203.0.113.1'],
        'AAAA mx1.shop.example': ['2001:db8:ff::1'],
        'A mx2.shop.example': ['203.0.113.2'],
        'A bare.example': ['203.0.113.9'],
        'MX nomail.example': [{ exchange: '', priority: 0 }],
    });
    const settings = { route: null };
    assert.deepEqual((await mxAddresses('shop.example', settings, dns)).map((m) => [m.exchange, m.priority, m.from_dns]), [
        ['203.0.113.1', 10, 'mx1.shop.example'], ['2001:db8:ff::1', 10, 'mx1.shop.example'], ['203.0.113.2', 20, 'mx2.shop.example'],
    ]);
    assert.deepEqual((await mxAddresses('bare.example', settings, dns)).map((m) => m.exchange), ['203.0.113.9']);
    assert.deepEqual(await mxAddresses('nomail.example', settings, dns), [{ exchange: '', priority: 0 }]);
    assert.deepEqual(await mxAddresses('any.example', { route: ['127.0.0.1', 2525] }, dns), [{ exchange: '127.0.0.1', priority: 0, port: 2525 }]);
    const gone = resolver({ 'MX gone.example': Object.assign(new Error('queryMx ENOTFOUND gone.example'), { code: 'ENOTFOUND' }) });
    await assert.rejects(mxAddresses('gone.example', settings, gone), { code: 'ENOTFOUND' });
});
