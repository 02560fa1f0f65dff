'use strict';
// Pool enforcement in ZoneMTA's sender hooks, with `sender:fetch` deliveries and `sender:connect`
// options recorded as ZoneMTA passes them (sender-hooks.json).  First against a stand-in portal
// (exact choices), then — with MAILMON_TEST_URL, MAILMON_TEST_API_KEY and MAILMON_TEST_POOLS_PHASE
// set by tests/agent/test_node_plugins.py — against the live portal, before and after it pauses
// an IP.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const HOOKS = JSON.parse(fs.readFileSync(path.join(__dirname, 'sender-hooks.json'), 'utf8'));
const NODE = 'zonemta-test.example.com';
const quiet = { info() {}, warn() {}, error() {} };

const STUB_ANSWER = {
    generated_at: '2026-12-01T15:00:00Z',
    pools: [
        { id: 3, name: 'transactional', type: 'transactional', ips: [
            { address: '198.51.100.1', version: 4, node: NODE, weight: 100, daily_limit: 500, sent_today: 499, remaining: 1 },
            { address: '198.51.100.2', version: 4, node: NODE, weight: 100, daily_limit: null, sent_today: 0, remaining: null },
            { address: '2001:db8::1', version: 6, node: NODE, weight: 100, daily_limit: null, sent_today: 0, remaining: null },
        ] },
        { id: 4, name: 'marketing', type: 'marketing', ips: [] },
    ],
};

/** A fresh copy of the plugin (module state is per process in ZoneMTA too). */
function freshPlugin() {
    for (const name of Object.keys(require.cache)) {
        if (/zonemta[/\\](index|pools)\.js$|mailmon-pools\.js$/.test(name)) delete require.cache[name];
    }
    return require('..');
}

function fakeApp(config) {
    const hooks = {};
    return { hooks, config, logger: { info() {}, warn() {}, error() {} }, addHook: (name, handler) => { hooks[name] = handler; } };
}

async function startPlugin(url, apiKey, extra) {
    const plugin = freshPlugin();
    const bufferDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmon-zonemta-pools-'));
    const app = fakeApp({
        url, apiKey, node: NODE, bufferDir, flushMs: 50,
        pools: { senders: { 'shop.example': 'transactional' }, zones: { bulk: 'marketing' }, helo: { '198.51.100.1': 'o1.shop.example' }, intervalMs: 60000, ...extra },
    });
    await new Promise((resolve, reject) => plugin.init(app, (err) => (err ? reject(err) : resolve())));
    plugin.pools.log = quiet;
    return { plugin, app };
}

const clone = (value) => JSON.parse(JSON.stringify(value));

function fetchHook(app, delivery) {
    return new Promise((resolve) => app.hooks['sender:fetch'](delivery, (err) => resolve(err || null)));
}

function connectHook(app, delivery, connOpts) {
    return new Promise((resolve) => app.hooks['sender:connect'](delivery, connOpts, (err) => resolve(err || null)));
}

async function stubPortal(body) {
    const server = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"stub"' });
        res.end(JSON.stringify(body));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

function stop(plugin) {
    plugin.pools.stop();
    plugin.client.close();
}

test('each delivery leaves from an allowed IP of its pool, falling back when one reaches its quota', async () => {
    const portal = await stubPortal(STUB_ANSWER);
    const { plugin, app } = await startPlugin(portal.url, 'k');
    plugin.pools.random = () => 0; // the first available IP of the list
    const [d1, d2, d3, bulk, unmapped] = clone(HOOKS.fetch);

    assert.equal(await fetchHook(app, d1), null);
    assert.deepEqual(d1.zoneAddressIPv4, { name: 'o1.shop.example', address: '198.51.100.1' });
    assert.deepEqual(d1.zoneAddressIPv6, { name: 'mta-out-1.example.com', address: '2001:db8::1' });
    const own = { ...HOOKS.connect, localAddress: d1.zoneAddressIPv4.address };
    assert.equal(await connectHook(app, d1, own), null);
    assert.equal(own.localAddress, '198.51.100.1', 'an allowed address is left alone');
    const v6 = clone(HOOKS.connect6);
    assert.equal(await connectHook(app, d1, v6), null);
    assert.equal(v6.localAddress, '2001:db8::1', 'an IPv6 MX gets the allowed IPv6 source');

    // 198.51.100.1 had 1 send left: the next deliveries fall back to 198.51.100.2.
    assert.equal(await fetchHook(app, d2), null);
    assert.equal(d2.zoneAddressIPv4.address, '198.51.100.2');
    assert.equal(await fetchHook(app, d3), null);
    assert.equal(d3.zoneAddressIPv4.address, '198.51.100.2');
    const stale = clone(HOOKS.connect); // the zone's own address reached the connect hook
    assert.equal(await connectHook(app, d3, stale), null);
    assert.equal(stale.localAddress, '198.51.100.2');

    const held = await fetchHook(app, bulk);
    assert.ok(held, 'a pool without allowed IPs defers');
    assert.equal(held.action, 'defer');
    assert.equal(held.responseCode, 451);
    assert.match(held.response, /^451 4\.4\.5 mailmon: pool marketing has no allowed IP/);

    assert.equal(await fetchHook(app, unmapped), null);
    assert.equal(unmapped.zoneAddressIPv4.address, '198.51.100.250', 'senders of no pool keep ZoneMTA routing');
    stop(plugin);
    portal.close();
});

test('with noIp = "default" a pool without allowed IPs keeps the zone address', async () => {
    const portal = await stubPortal(STUB_ANSWER);
    const { plugin, app } = await startPlugin(portal.url, 'k', { noIp: 'default' });
    const bulk = clone(HOOKS.fetch[3]);
    assert.equal(await fetchHook(app, bulk), null);
    assert.equal(bulk.zoneAddressIPv4.address, '198.51.100.251');
    stop(plugin);
    portal.close();
});

test('a pool with IPv4 addresses only stops ZoneMTA from trying IPv6 MX hosts', async () => {
    const v4only = clone(STUB_ANSWER);
    v4only.pools[0].ips = v4only.pools[0].ips.filter((ip) => ip.version === 4);
    const portal = await stubPortal(v4only);
    const { plugin, app } = await startPlugin(portal.url, 'k');
    const delivery = clone(HOOKS.fetch[0]);
    assert.equal(await fetchHook(app, delivery), null);
    assert.equal(delivery.dnsOptions.ignoreIPv6, true);
    assert.equal(delivery.zoneAddressIPv6.address, '2001:db8:5::250', 'left as is: ZoneMTA will not use it');
    const v6 = clone(HOOKS.connect6);
    const err = await connectHook(app, delivery, v6);
    assert.equal(err && err.action, 'defer', 'an IPv6 MX reached anyway is refused, not sent from the zone address');
    stop(plugin);
    portal.close();
});

// ------------------------------------------------------------------ against the live portal
const url = process.env.MAILMON_TEST_URL;
const apiKey = process.env.MAILMON_TEST_API_KEY;
const phase = process.env.MAILMON_TEST_POOLS_PHASE;

// The portal holds (tests/agent/test_node_plugins.py): pool "transactional" with 127.0.0.2
// (weight 1000, 2 sends left today) and 127.0.0.3 (weight 1, unlimited); pool "marketing" with a
// paused IP only.  In phase "paused" the portal has paused 127.0.0.2 since.
test('live portal: the pool\'s IPs, the quota fallback and a paused IP', { skip: !(url && phase) && 'MAILMON_TEST_URL / MAILMON_TEST_POOLS_PHASE not set' }, async () => {
    const { plugin, app } = await startPlugin(url, apiKey);
    assert.equal(plugin.pools.stats.changed, 1, 'the first poll got an answer');
    plugin.pools.random = () => 0.5; // by weight: 127.0.0.2 whenever it is available
    const sources = [];
    for (const delivery of clone(HOOKS.fetch).slice(0, 3)) {
        assert.equal(await fetchHook(app, delivery), null);
        assert.equal(delivery.dnsOptions.ignoreIPv6, true, 'no IPv6 in the pool');
        const connOpts = { ...HOOKS.connect, localAddress: delivery.zoneAddressIPv4.address };
        assert.equal(await connectHook(app, delivery, connOpts), null);
        sources.push(connOpts.localAddress);
    }
    if (phase === 'active') assert.deepEqual(sources, ['127.0.0.2', '127.0.0.2', '127.0.0.3']);
    else assert.deepEqual(sources, ['127.0.0.3', '127.0.0.3', '127.0.0.3']);
    const held = await fetchHook(app, clone(HOOKS.fetch[3]));
    assert.equal(held && held.action, 'defer', 'the marketing pool has only a paused IP');
    assert.equal(await plugin.pools.refresh(), 'unchanged', 'the next poll is a 304');
    stop(plugin);
});
