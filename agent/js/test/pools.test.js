'use strict';
// The MTA plugins' pool client: IP choice by weight, local quota counting, fallback, the last good
// answer kept in memory and on disk.  A stand-in portal speaks the /api/v1/mta/pools contract;
// tests/agent/test_node_plugins.py runs the plugins against the real one.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const { PoolClient, pickWeighted, available, senderPool } = require('../mailmon-pools.js');

const quiet = { info() {}, warn() {}, error() {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mailmon-pools-'));

const ANSWER = {
    generated_at: '2026-12-01T15:00:00Z',
    pools: [
        { id: 3, name: 'transactional', type: 'transactional', ips: [
            { address: '198.51.100.1', version: 4, node: 'mta-out-1', weight: 100, daily_limit: 500, sent_today: 498, remaining: 2 },
            { address: '198.51.100.2', version: 4, node: 'mta-out-1', weight: 300, daily_limit: null, sent_today: 10, remaining: null },
            { address: '2001:db8::1', version: 6, node: 'mta-out-1', weight: 50, daily_limit: null, sent_today: 0, remaining: null },
        ] },
        { id: 4, name: 'marketing', type: 'marketing', ips: [] },
    ],
};

/** A stand-in portal: answers `answers` in turn (status, body, etag), recording If-None-Match. */
async function stubPortal(answers) {
    const seen = [];
    const server = http.createServer((req, res) => {
        seen.push({ url: req.url, ifNoneMatch: req.headers['if-none-match'], auth: req.headers.authorization });
        const next = answers.length > 1 ? answers.shift() : answers[0];
        if (next.status === 200) {
            res.writeHead(200, { 'Content-Type': 'application/json', ETag: next.etag });
            res.end(JSON.stringify(next.body));
        } else if (req.headers['if-none-match'] && next.status === 304) {
            res.writeHead(304, { ETag: next.etag });
            res.end();
        } else {
            res.writeHead(next.status, { 'Content-Type': 'application/json' });
            res.end('{"detail": "down"}');
        }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

test('weighted choice follows the weights', () => {
    const ips = [{ address: 'a', weight: 100 }, { address: 'b', weight: 300 }];
    assert.equal(pickWeighted(ips, () => 0.0).address, 'a');
    assert.equal(pickWeighted(ips, () => 0.24).address, 'a');
    assert.equal(pickWeighted(ips, () => 0.26).address, 'b');
    assert.equal(pickWeighted(ips, () => 0.999).address, 'b');
    assert.equal(pickWeighted([], () => 0.5), null);
    let n = 0;
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 4000; i += 1) counts[pickWeighted(ips, () => ((n++ * 0.6180339887) % 1)).address] += 1;
    assert.ok(counts.b > 2.5 * counts.a && counts.b < 3.5 * counts.a, JSON.stringify(counts));
});

test('over-quota and wrong-version IPs are not available', () => {
    const pool = ANSWER.pools[0];
    assert.deepEqual(available(pool, new Map(), 4).map((i) => i.address), ['198.51.100.1', '198.51.100.2']);
    assert.deepEqual(available(pool, new Map([['198.51.100.1', 2]]), 4).map((i) => i.address), ['198.51.100.2']);
    assert.deepEqual(available(pool, new Map(), 6).map((i) => i.address), ['2001:db8::1']);
});

test('the sender maps to the most specific pool entry', () => {
    const senders = { 'example.com': 'transactional', 'news.example.com': 'marketing', 'ceo@example.com': 'vip' };
    assert.equal(senderPool(senders, '<CEO@Example.com>', 'general'), 'vip');
    assert.equal(senderPool(senders, 'shop@news.example.com', 'general'), 'marketing');
    assert.equal(senderPool(senders, 'a@deep.sub.example.com', 'general'), 'transactional');
    assert.equal(senderPool(senders, 'a@other.example', 'general'), 'general');
    assert.equal(senderPool(senders, '', null), null);
});

test('an IP at its quota falls back to another allowed IP of the pool, then the pool defers', async () => {
    const portal = await stubPortal([{ status: 200, etag: '"v1"', body: ANSWER }]);
    const client = new PoolClient({ url: portal.url, apiKey: 'k', logger: quiet, random: () => 0 });
    await client.refresh();
    // random() = 0 always picks the first available: 198.51.100.1 until its 2 remaining are used.
    assert.equal(client.choose('transactional', { version: 4 }).address, '198.51.100.1');
    assert.equal(client.choose('transactional', { version: 4 }).address, '198.51.100.1');
    assert.equal(client.choose('transactional', { version: 4 }).address, '198.51.100.2');
    assert.equal(client.usedBy('198.51.100.1'), 2);
    assert.equal(client.choose('transactional', { version: 4, exclude: ['198.51.100.2'] }).action, 'defer');
    const held = client.choose('marketing');
    assert.equal(held.action, 'defer');
    assert.match(held.response, /^451 4\.4\.5 .*marketing has no allowed IP/);
    assert.equal(client.choose('nonexistent').action, 'defer');
    assert.deepEqual(client.choose(null), { action: 'default', reason: 'no pool configured for this sender' });
    portal.close();
});

test('with noIp = default a pool without allowed IPs sends from the MTA\'s own address', async () => {
    const portal = await stubPortal([{ status: 200, etag: '"v1"', body: ANSWER }]);
    const client = new PoolClient({ url: portal.url, apiKey: 'k', logger: quiet, noIp: 'default' });
    await client.refresh();
    assert.equal(client.choose('marketing').action, 'default');
    assert.throws(() => new PoolClient({ url: portal.url, apiKey: 'k', noIp: 'drop' }), /noIp must be one of defer, default/);
    portal.close();
});

test('polls send If-None-Match; 304 keeps the answer and the local counts, a new answer resets them', async () => {
    const changed = JSON.parse(JSON.stringify(ANSWER));
    changed.pools[0].ips[0].remaining = 50;
    const portal = await stubPortal([
        { status: 200, etag: '"v1"', body: ANSWER }, { status: 304, etag: '"v1"' }, { status: 200, etag: '"v2"', body: changed },
    ]);
    const client = new PoolClient({ url: portal.url, apiKey: 'secret', node: 'mta-out-1', logger: quiet, random: () => 0 });
    assert.equal(await client.refresh(), 'changed');
    client.choose('transactional', { version: 4 });
    assert.equal(await client.refresh(), 'unchanged');
    assert.equal(client.usedBy('198.51.100.1'), 1);
    assert.equal(await client.refresh(), 'changed');
    assert.equal(client.usedBy('198.51.100.1'), 0);
    assert.equal(client.pool('transactional').ips[0].remaining, 50);
    assert.deepEqual(portal.seen.map((s) => s.ifNoneMatch), [undefined, '"v1"', '"v1"']);
    assert.equal(portal.seen[0].url, '/api/v1/mta/pools?node=mta-out-1');
    assert.equal(portal.seen[0].auth, 'Api-Key secret');
    portal.close();
});

test('the last good answer survives a portal outage, bad answers and a restart', async () => {
    const stateFile = path.join(tmp(), 'pools.json');
    const portal = await stubPortal([{ status: 200, etag: '"v1"', body: ANSWER }, { status: 503 }, { status: 200, etag: '"bad"', body: { pools: 'x' } }]);
    const client = new PoolClient({ url: portal.url, apiKey: 'k', stateFile, logger: quiet, random: () => 0 });
    assert.equal(await client.refresh(), 'changed');
    assert.equal(await client.refresh(), 'failed');
    assert.equal(await client.refresh(), 'failed');
    assert.equal(client.choose('transactional', { version: 6 }).address, '2001:db8::1');
    portal.close();
    // The MTA restarts while the portal is away: the saved answer is used, with its ETag.
    const restarted = new PoolClient({ url: 'http://127.0.0.1:9', apiKey: 'k', stateFile, logger: quiet, timeoutMs: 300, random: () => 0 });
    assert.equal(await restarted.refresh(), 'failed');
    assert.equal(restarted.etag, '"v1"');
    assert.equal(restarted.choose('transactional', { version: 4 }).address, '198.51.100.1');
    // Without any answer at all, the pool defers (nothing is sent from an IP the portal never allowed).
    const fresh = new PoolClient({ url: 'http://127.0.0.1:9', apiKey: 'k', stateFile: path.join(tmp(), 'none.json'), logger: quiet, timeoutMs: 300 });
    assert.equal(await fresh.refresh(), 'failed');
    assert.equal(fresh.choose('transactional').action, 'defer');
});

test('a corrupt state file is ignored, not fatal', () => {
    const stateFile = path.join(tmp(), 'pools.json');
    fs.writeFileSync(stateFile, '{not json');
    const client = new PoolClient({ url: 'http://127.0.0.1:9', apiKey: 'k', stateFile, logger: quiet });
    assert.equal(client.answer, null);
});
