'use strict';
/**
 * mailmon ingest client for MTA plugins (Haraka, ZoneMTA): Node's standard library only.
 *
 * Events are batched (up to `batchSize` or `flushMs`), each batch is written to a small on-disk
 * buffer (fsync'd, one file per batch, oldest dropped and counted past `maxFiles`) and then posted
 * to POST <url>/api/v1/events/ingest in order, following the retry contract of docs/events.md:
 * 2xx done, 429/5xx/no answer again (backoff 1 s doubling to `maxBackoffMs`, +-20 % jitter, at
 * least Retry-After), any other 4xx never again (logged).  A batch is forgotten only once the
 * portal has answered for it, so an MTA restart or a portal outage loses nothing.
 */
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const https = require('node:https');
const zlib = require('node:zlib');
const { URL } = require('node:url'); // plugins may run in a sandbox without the global URL

const INGEST_PATH = '/api/v1/events/ingest';

function consoleLogger() {
    return {
        info: (msg) => console.log(`mailmon: ${msg}`),
        warn: (msg) => console.warn(`mailmon: ${msg}`),
        error: (msg) => console.error(`mailmon: ${msg}`),
    };
}

/** POST a body; resolves {status, headers, body} or rejects when there is no answer. */
function post(url, apiKey, body, timeoutMs) {
    const target = new URL(INGEST_PATH, url.replace(/\/+$/, '') + '/');
    const transport = target.protocol === 'https:' ? https : http;
    const payload = zlib.gzipSync(body);
    return new Promise((resolve, reject) => {
        const request = transport.request(target, {
            method: 'POST',
            timeout: timeoutMs,
            headers: {
                Authorization: `Api-Key ${apiKey}`,
                'Content-Type': 'application/json',
                'Content-Encoding': 'gzip',
                'Content-Length': payload.length,
                'User-Agent': 'mailmon-mta-plugin/1.0',
            },
        }, (response) => {
            const chunks = [];
            response.on('data', (chunk) => chunks.push(chunk));
            response.on('end', () => resolve({
                status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString(),
            }));
            response.on('error', reject);
        });
        request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        request.on('error', reject);
        request.end(payload);
    });
}

class IngestClient {
    constructor(options) {
        const o = options || {};
        if (!o.url || !/^https?:\/\/[^/\s]+/.test(o.url)) throw new Error(`mailmon: url must be http(s)://…, got ${o.url}`);
        if (!o.apiKey) throw new Error('mailmon: api key required (create one with `manage.py create_agent_key`)');
        this.url = o.url;
        this.apiKey = o.apiKey;
        this.bufferDir = o.bufferDir || '/var/lib/mailmon-agent/mta';
        this.batchSize = o.batchSize || 500;
        this.flushMs = o.flushMs || 1000;
        this.maxFiles = o.maxFiles || 1000;
        this.maxBackoffMs = o.maxBackoffMs || 60000;
        this.timeoutMs = o.timeoutMs || 10000;
        this.log = o.logger || consoleLogger();
        this.pending = [];
        this.failures = 0;
        this.sending = false;
        this.stats = { sent: 0, accepted: 0, rejected: 0, dropped: 0 };
        this.timer = null;
        this.retryTimer = null;
        this.idleWaiters = [];
        fs.mkdirSync(this.bufferDir, { recursive: true, mode: 0o700 });
        const names = this._files();
        this.seq = names.length ? Number(names[names.length - 1].split('.')[0]) + 1 : 1;
        if (names.length) setImmediate(() => this.drain());
    }

    /** Queue one event (a docs/events.md object); sent within flushMs. */
    push(event) {
        this.pending.push(event);
        if (this.pending.length >= this.batchSize) this.flush();
        else if (!this.timer) {
            this.timer = setTimeout(() => this.flush(), this.flushMs);
            if (this.timer.unref) this.timer.unref();
        }
    }

    /** Write the current batch to the buffer and start sending. */
    flush() {
        clearTimeout(this.timer);
        this.timer = null;
        if (this.pending.length) {
            const batch = this.pending.splice(0, this.pending.length);
            this._store(Buffer.from(JSON.stringify(batch)));
        }
        this.drain();
    }

    /** Resolves once every batch handed over so far has been answered for (tests, shutdown). */
    idle() {
        this.flush();
        if (!this.sending && !this._files().length) return Promise.resolve();
        return new Promise((resolve) => this.idleWaiters.push(resolve));
    }

    /** Stop timers (the buffer stays on disk for the next start). */
    close() {
        this.flush();
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
    }

    _files() {
        try {
            return fs.readdirSync(this.bufferDir).filter((n) => n.endsWith('.json')).sort();
        } catch (err) {
            return [];
        }
    }

    _store(data) {
        const names = this._files();
        for (const name of names.slice(0, Math.max(0, names.length - this.maxFiles + 1))) {
            fs.rmSync(path.join(this.bufferDir, name), { force: true });
            this.stats.dropped += 1;
            this.log.warn(`buffer ${this.bufferDir} full (${this.maxFiles} batches): dropped the oldest, ` +
                `${this.stats.dropped} dropped so far`);
        }
        const name = `${String(this.seq++).padStart(20, '0')}.json`;
        const tmp = path.join(this.bufferDir, `${name}.tmp`);
        const fd = fs.openSync(tmp, 'w', 0o600);
        try {
            fs.writeSync(fd, data);
            fs.fsyncSync(fd);
        } finally {
            fs.closeSync(fd);
        }
        fs.renameSync(tmp, path.join(this.bufferDir, name));
    }

    async drain() {
        if (this.sending || this.retryTimer) return;
        this.sending = true;
        try {
            for (let names = this._files(); names.length; names = this._files()) {
                const file = path.join(this.bufferDir, names[0]);
                const retryAfter = await this._attempt(fs.readFileSync(file));
                if (retryAfter !== null) {
                    this._scheduleRetry(retryAfter);
                    return;
                }
                fs.rmSync(file, { force: true });
            }
        } finally {
            this.sending = false;
            if (!this.retryTimer && !this._files().length) this.idleWaiters.splice(0).forEach((r) => r());
        }
    }

    /** null when the batch is finished with; else the portal's Retry-After in ms (0 if none). */
    async _attempt(body) {
        let answer;
        try {
            answer = await post(this.url, this.apiKey, body, this.timeoutMs);
        } catch (err) {
            this.log.warn(`cannot reach ${this.url}: ${err.message}`);
            return 0;
        }
        if (answer.status === 429 || answer.status >= 500) {
            this.log.warn(`portal answered HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
            return 1000 * (Number(answer.headers['retry-after']) || 0);
        }
        this.failures = 0;
        this.stats.sent += 1;
        if (answer.status >= 200 && answer.status < 300) {
            const result = JSON.parse(answer.body || '{}');
            this.stats.accepted += result.accepted || 0;
            this.stats.rejected += (result.rejected || []).length;
            if ((result.rejected || []).length) {
                this.log.warn(`portal rejected ${result.rejected.length} event(s): ${JSON.stringify(result.rejected).slice(0, 300)}`);
            }
        } else {
            this.log.error(`portal refused a batch for good (HTTP ${answer.status}): ${answer.body.slice(0, 300)}`);
        }
        return null;
    }

    _scheduleRetry(retryAfterMs) {
        this.failures += 1;
        const backoff = Math.min(this.maxBackoffMs, 1000 * 2 ** (this.failures - 1)) * (0.8 + 0.4 * Math.random());
        const delay = Math.max(backoff, retryAfterMs);
        this.log.warn(`retrying in ${(delay / 1000).toFixed(1)} s (${this._files().length} batch(es) buffered)`);
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.drain();
        }, delay);
        if (this.retryTimer.unref) this.retryTimer.unref();
    }
}

/**
 * A per-process buffer directory `<base>/<prefix>-<pid>` (MTAs run several worker processes, each
 * with its own client), after taking over the batches of workers that are gone.
 */
function processBufferDir(base, prefix) {
    const own = path.join(base, `${prefix}-${process.pid}`);
    fs.mkdirSync(own, { recursive: true, mode: 0o700 });
    const batches = (dir) => fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
    const existing = batches(own);
    let seq = existing.length ? Number(existing[existing.length - 1].split('.')[0]) + 1 : 1;
    const pattern = new RegExp(`^${prefix}-(\\d+)$`);
    for (const name of fs.readdirSync(base).sort()) {
        const match = pattern.exec(name);
        if (!match || Number(match[1]) === process.pid || alive(Number(match[1]))) continue;
        const dir = path.join(base, name);
        for (const file of batches(dir)) {
            fs.renameSync(path.join(dir, file), path.join(own, `${String(seq++).padStart(20, '0')}.json`));
        }
        fs.rmSync(dir, { recursive: true, force: true });
    }
    return own;
}

function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return err.code === 'EPERM';
    }
}

/** "a@b" from a string ("<a@b>"), a Haraka Address or the plain object a queue file holds. */
function address(value) {
    if (!value) return '';
    if (typeof value === 'string') return value.trim().replace(/^<|>$/g, '');
    if (typeof value.address === 'function') return value.address() || '';
    if (typeof value.address === 'string') return value.address;
    if (value.user !== undefined && value.host) return `${value.user}@${value.host}`;
    if (value.original) return address(value.original);
    return '';
}

/** The SMTP code and enhanced status at the start of a response ("550 5.1.1 …"), when present. */
function smtpCodes(text) {
    const match = /^\s*([2-5]\d\d)(?:[ -]+([245]\.\d{1,3}\.\d{1,3}))?/.exec(text || '');
    const result = {};
    if (match) {
        result.status_code = Number(match[1]);
        if (match[2]) result.enhanced_status = match[2];
    }
    return result;
}

/** Drop empty values so optional wire fields are left out rather than sent blank. */
function compact(event) {
    for (const key of Object.keys(event)) {
        if (event[key] === undefined || event[key] === null || event[key] === '') delete event[key];
    }
    return event;
}

module.exports = { IngestClient, address, smtpCodes, compact, processBufferDir, INGEST_PATH };
