'use strict';
// The MTA plugins' ingest client: the retry contract of docs/events.md and the on-disk buffer.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const { IngestClient, address, processBufferDir } = require('../mailmon-ingest.js');

const quiet = { info() {}, warn() {}, error() {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mailmon-ingest-'));
const event = (n) => ({ event_id: `t:${n}`, time: new Date().toISOString(), type: 'delivered', node: 'mx1', to: `u${n}@example.com` });

/** A portal stand-in answering the given statuses in turn (then 202), recording what it stored. */
async function stubPortal(statuses) {
    const stored = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const status = statuses.length ? statuses.shift() : 202;
            const batch = JSON.parse(zlib.gunzipSync(Buffer.concat(chunks)).toString());
            if (status === 202) stored.push(...batch);
            res.writeHead(status, { 'Content-Type': 'application/json', 'Retry-After': '0' });
            res.end(JSON.stringify(status === 202 ? { accepted: batch.length, rejected: [], batch: 1 } : { detail: 'x' }));
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${server.address().port}`, stored, close: () => server.close() };
}

test('batches are resent after 503 and 429, in order, and refused ones are dropped', async () => {
    const portal = await stubPortal([503, 429]);
    const client = new IngestClient({ url: portal.url, apiKey: 'k', bufferDir: tmp(), batchSize: 2, logger: quiet, maxBackoffMs: 50 });
    [1, 2, 3, 4].forEach((n) => client.push(event(n)));
    await client.idle();
    assert.deepEqual(portal.stored.map((e) => e.event_id), ['t:1', 't:2', 't:3', 't:4']);
    assert.equal(client.stats.accepted, 4);
    portal.close();

    const refusing = await stubPortal([400]);
    const other = new IngestClient({ url: refusing.url, apiKey: 'k', bufferDir: tmp(), batchSize: 1, logger: quiet });
    [5, 6].forEach((n) => other.push(event(n)));
    await other.idle();
    assert.deepEqual(refusing.stored.map((e) => e.event_id), ['t:6']);
    refusing.close();
});

test('batches wait on disk while the portal is away and go out on the next start', async () => {
    const dir = tmp();
    const away = new IngestClient({ url: 'http://127.0.0.1:9', apiKey: 'k', bufferDir: dir, logger: quiet, timeoutMs: 500 });
    away.push(event(1));
    away.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    away.close();
    assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith('.json')).length, 1);
    const portal = await stubPortal([]);
    const back = new IngestClient({ url: portal.url, apiKey: 'k', bufferDir: dir, logger: quiet });
    await back.idle();
    assert.deepEqual(portal.stored.map((e) => e.event_id), ['t:1']);
    assert.deepEqual(fs.readdirSync(dir), []);
    portal.close();
});

test('a full buffer drops its oldest batch and counts it', () => {
    const client = new IngestClient({ url: 'http://127.0.0.1:9', apiKey: 'k', bufferDir: tmp(), maxFiles: 2, logger: quiet });
    client.retryTimer = setTimeout(() => {}, 0); // hold sending back
    [1, 2, 3].forEach((n) => { client.push(event(n)); client.flush(); });
    assert.equal(client._files().length, 2);
    assert.equal(client.stats.dropped, 1);
    clearTimeout(client.retryTimer);
});

test('buffers of dead worker processes are adopted', () => {
    const base = tmp();
    fs.mkdirSync(path.join(base, 'haraka-999999'));
    fs.writeFileSync(path.join(base, 'haraka-999999', '00000000000000000007.json'), '[]');
    const own = processBufferDir(base, 'haraka');
    assert.equal(path.basename(own), `haraka-${process.pid}`);
    assert.deepEqual(fs.readdirSync(own), ['00000000000000000001.json']);
    assert.deepEqual(fs.readdirSync(base), [`haraka-${process.pid}`]);
});

test('addresses come from strings, Haraka Address objects and queue-file plain objects', () => {
    assert.equal(address('<a@b.example>'), 'a@b.example');
    assert.equal(address({ user: 'a', host: 'b.example', original: '<a@b.example>' }), 'a@b.example');
    assert.equal(address({ original: '<a@b.example>' }), 'a@b.example');
    assert.equal(address({ address: () => 'a@b.example' }), 'a@b.example');
    assert.equal(address(null), '');
});
