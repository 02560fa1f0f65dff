'use strict';
// The ZoneMTA plugin against log:entry calls shaped as ZoneMTA emits them (recorded in
// log-entries.json).  With MAILMON_TEST_URL and MAILMON_TEST_API_KEY set (tests/agent/
// test_node_plugins.py starts a portal and sets them), the events are posted to it for real.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const plugin = require('..');
const ENTRIES = JSON.parse(fs.readFileSync(path.join(__dirname, 'log-entries.json'), 'utf8'));
const NODE = 'zonemta-test.example.com';
const NOW = Date.parse('2026-11-25T10:00:00Z');

test('each outcome maps to its event type, with sending IP, zone and codes', () => {
    const events = ENTRIES.flatMap((entry) => plugin.eventsFromLogEntry(entry, NODE, NOW));
    assert.deepEqual(events.map((e) => [e.type, e.to]), [
        ['queued', 'ann@gmail.com'],
        ['delivered', 'ann@gmail.com'],
        ['deferred', 'bo@outlook.com'],
        ['deferred', 'bo@outlook.com'],
        ['bounced', 'nobody@yahoo.com'],
        ['delivered', 'carl@example.net'],
    ]);
    const [queued, delivered, busy, refused, rejected, bounceless] = events;
    assert.equal(queued.size, 18422);
    assert.equal(delivered.sending_ip, '198.51.100.7');
    assert.equal(delivered.zone, 'bulk');
    assert.equal(delivered.mx, 'gmail-smtp-in.l.google.com');
    assert.equal(delivered.status_code, 250);
    assert.equal(delivered.enhanced_status, '2.0.0');
    assert.equal(delivered.delay_ms, 812);
    assert.equal(delivered.message_id, '<a1@shop.example>');
    assert.equal(delivered.time, '2026-11-25T10:00:00.000Z');
    assert.equal(busy.sending_ip, '2001:db8:5::7');
    assert.equal(busy.status_code, 451);
    assert.equal(busy.enhanced_status, '4.7.500');
    assert.equal(refused.status_code, undefined);
    assert.notEqual(busy.event_id, refused.event_id, 'each deferral is its own event');
    assert.equal(rejected.status_code, 554);
    assert.equal(bounceless.from, undefined, 'the null sender is left out');
    assert.equal(bounceless.message_id, undefined, 'ZoneMTA falls back to its queue id: not a Message-ID');
    assert.equal(new Set(events.map((e) => e.event_id)).size, events.length);
});

test('entries without a recipient or of other actions make no event', () => {
    assert.deepEqual(plugin.eventsFromLogEntry({ id: 'x', action: 'DROP', description: 'spam' }, NODE), []);
    assert.deepEqual(plugin.eventsFromLogEntry({ id: 'x', seq: '001', action: 'QUEUE_POLL', to: 'a@b.example' }, NODE), []);
    const dropped = plugin.eventsFromLogEntry({ id: 'x', action: 'DROP', to: ['a@b.example', 'c@d.example'], responseText: '550 spam' }, NODE);
    assert.deepEqual(dropped.map((e) => [e.type, e.to, e.status_code]), [['rejected', 'a@b.example', 550], ['rejected', 'c@d.example', 550]]);
});

const url = process.env.MAILMON_TEST_URL;
const apiKey = process.env.MAILMON_TEST_API_KEY;

function fakeApp(config) {
    const hooks = {};
    return { hooks, config, addHook: (name, handler) => { hooks[name] = handler; } };
}

test('the plugin posts what ZoneMTA logs to a live portal', { skip: !url && 'MAILMON_TEST_URL not set' }, async () => {
    const bufferDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmon-zonemta-'));
    const app = fakeApp({ url, apiKey, node: NODE, bufferDir, flushMs: 50 });
    await new Promise((resolve, reject) => plugin.init(app, (err) => (err ? reject(err) : resolve())));
    for (const entry of ENTRIES) {
        await new Promise((resolve) => app.hooks['log:entry'](entry, resolve));
    }
    await plugin.client.idle();
    assert.deepEqual(plugin.client.stats, { sent: 1, accepted: 6, rejected: 0, dropped: 0 });
    plugin.client.close();
});
