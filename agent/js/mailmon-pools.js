'use strict';
/**
 * mailmon sending-IP pools for MTA plugins (Haraka, ZoneMTA): Node's standard library only.
 *
 * The portal decides which IPs may send (GET /api/v1/mta/pools, contract in docs/api.md): for
 * each pool the IPs allowed now, with weight and remaining daily quota.  This client polls it
 * every `intervalMs` (10 s) with If-None-Match, keeps the last good answer in memory and on disk
 * (`stateFile`), so a portal outage — even across an MTA restart — keeps the last decision, and
 * answers "which local address should this message leave from":
 *
 *   - an allowed IP of the sender's pool, picked at random by weight (of the right IP version);
 *   - sends are counted locally between polls, so an IP whose remaining quota is used up is
 *     skipped until the portal's next answer (which counts the real sends);
 *   - no allowed IP left: `noIp` decides — "defer" (a 4xx, the default) or "default" (the
 *     MTA's own address).
 */
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { URL } = require('node:url'); // plugins may run in a sandbox without the global URL

const POOLS_PATH = '/api/v1/mta/pools';
const NO_IP_ACTIONS = ['defer', 'default'];

function consoleLogger() {
    return {
        info: (msg) => console.log(`mailmon: ${msg}`),
        warn: (msg) => console.warn(`mailmon: ${msg}`),
        error: (msg) => console.error(`mailmon: ${msg}`),
    };
}

/** GET the pools; resolves {status, headers, body} or rejects when there is no answer. */
function getPools(url, apiKey, { etag, node, timeoutMs }) {
    const target = new URL(POOLS_PATH, url.replace(/\/+$/, '') + '/');
    if (node) target.searchParams.set('node', node);
    const transport = target.protocol === 'https:' ? https : http;
    const headers = { Authorization: `Api-Key ${apiKey}`, Accept: 'application/json', 'User-Agent': 'mailmon-mta-plugin/1.0' };
    if (etag) headers['If-None-Match'] = etag;
    return new Promise((resolve, reject) => {
        const request = transport.request(target, { method: 'GET', timeout: timeoutMs, headers }, (response) => {
            const chunks = [];
            response.on('data', (chunk) => chunks.push(chunk));
            response.on('end', () => resolve({
                status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString(),
            }));
            response.on('error', reject);
        });
        request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        request.on('error', reject);
        request.end();
    });
}

/** The body's shape is checked before it replaces a good answer: a broken one never does. */
function validAnswer(answer) {
    return Boolean(answer && Array.isArray(answer.pools) && answer.pools.every(
        (p) => p && typeof p.name === 'string' && Array.isArray(p.ips)
            && p.ips.every((ip) => ip && typeof ip.address === 'string'),
    ));
}

/** 4 or 6 for an address (the portal says it too; this also covers a hand-written state file). */
function ipVersion(ip) {
    if (ip.version === 4 || ip.version === 6) return ip.version;
    return String(ip.address).includes(':') ? 6 : 4;
}

/** Allowed IPs of a pool still under quota after `used` local sends (address -> count). */
function available(pool, used, version) {
    return (pool ? pool.ips : []).filter((ip) => {
        if (version && ipVersion(ip) !== version) return false;
        if (ip.remaining === null || ip.remaining === undefined) return true;
        return ip.remaining - (used.get(ip.address) || 0) > 0;
    });
}

/** One IP at random, in proportion to its weight (default 100); null for an empty list. */
function pickWeighted(ips, random = Math.random) {
    const weights = ips.map((ip) => Math.max(0, Number(ip.weight) || 100));
    const total = weights.reduce((a, b) => a + b, 0);
    if (!ips.length || total <= 0) return null;
    let point = random() * total;
    for (let i = 0; i < ips.length; i += 1) {
        point -= weights[i];
        if (point < 0) return ips[i];
    }
    return ips[ips.length - 1];
}

/**
 * The pool for a sender: the most specific entry of `senders` (full address, then the domain and
 * its parent domains), else `defaultPool`.  Keys are matched case-insensitively.
 */
function senderPool(senders, address, defaultPool) {
    const map = {};
    for (const [key, value] of Object.entries(senders || {})) map[String(key).toLowerCase().replace(/^@/, '')] = value;
    const sender = String(address || '').trim().replace(/^<|>$/g, '').toLowerCase();
    if (sender && map[sender]) return map[sender];
    const at = sender.lastIndexOf('@');
    const labels = (at >= 0 ? sender.slice(at + 1) : sender).split('.').filter(Boolean);
    for (let i = 0; i < labels.length; i += 1) {
        const domain = labels.slice(i).join('.');
        if (map[domain]) return map[domain];
    }
    return defaultPool || null;
}

class PoolClient {
    constructor(options) {
        const o = options || {};
        if (!o.url || !/^https?:\/\/[^/\s]+/.test(o.url)) throw new Error(`mailmon pools: url must be http(s)://…, got ${o.url}`);
        if (!o.apiKey) throw new Error('mailmon pools: api key required (create one with `manage.py create_agent_key`)');
        const noIp = o.noIp || 'defer';
        if (!NO_IP_ACTIONS.includes(noIp)) throw new Error(`mailmon pools: noIp must be one of ${NO_IP_ACTIONS.join(', ')}, got ${noIp}`);
        this.url = o.url;
        this.apiKey = o.apiKey;
        this.node = o.node || null; // narrows a fleet key to this node's IPs
        this.intervalMs = Number(o.intervalMs) || 10000;
        this.timeoutMs = Number(o.timeoutMs) || 5000;
        this.stateFile = o.stateFile || null;
        this.noIp = noIp;
        this.random = o.random || Math.random;
        this.log = o.logger || consoleLogger();
        this.answer = null; // the last good body
        this.etag = null;
        this.fetchedAt = null;
        this.used = new Map(); // local sends per address since the last new answer
        this.stats = { polls: 0, changed: 0, unchanged: 0, failed: 0 };
        this.timer = null;
        this._load();
    }

    /** Poll now and then every intervalMs; resolves after the first poll (good or not). */
    start() {
        const first = this.refresh();
        this.timer = setInterval(() => this.refresh(), this.intervalMs);
        if (this.timer.unref) this.timer.unref();
        return first;
    }

    stop() {
        clearInterval(this.timer);
        this.timer = null;
    }

    /** One poll. Resolves 'changed', 'unchanged' or 'failed' (the last good answer stays). */
    async refresh() {
        this.stats.polls += 1;
        let answer;
        try {
            answer = await getPools(this.url, this.apiKey, { etag: this.etag, node: this.node, timeoutMs: this.timeoutMs });
        } catch (err) {
            return this._failed(`cannot reach ${this.url}: ${err.message}`);
        }
        if (answer.status === 304 && this.answer) {
            this.stats.unchanged += 1;
            this.fetchedAt = Date.now();
            return 'unchanged';
        }
        if (answer.status !== 200) return this._failed(`portal answered HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
        let body;
        try {
            body = JSON.parse(answer.body);
        } catch (err) {
            body = null;
        }
        if (!validAnswer(body)) return this._failed('portal answered 200 with a body that is not a pools list');
        this._adopt(body, answer.headers.etag || null);
        this._save();
        return 'changed';
    }

    /** The pool object of the last good answer, or undefined. */
    pool(name) {
        return this.answer ? this.answer.pools.find((p) => p.name === name || String(p.id) === String(name)) : undefined;
    }

    /**
     * Where a message of pool `poolName` goes out from:
     *   {action: 'bind', address, ip}     an allowed IP under quota (`count` sends are counted);
     *   {action: 'default', reason}       the MTA's own address (no pool, or noIp = default);
     *   {action: 'defer', reason, response}  hold the message (a 4xx).
     * `version` (4 or 6) restricts to one IP version; `exclude` skips addresses (a failed one).
     */
    choose(poolName, { version, count = 1, exclude } = {}) {
        if (!poolName) return { action: 'default', reason: 'no pool configured for this sender' };
        if (!this.answer) return this._noIp(poolName, 'no answer from the portal yet (and none saved)');
        const pool = this.pool(poolName);
        if (!pool) return this._noIp(poolName, `pool ${poolName} is not in the portal's answer`);
        const skip = new Set(exclude || []);
        const ip = pickWeighted(available(pool, this.used, version).filter((i) => !skip.has(i.address)), this.random);
        if (!ip) return this._noIp(poolName, `pool ${poolName} has no allowed IP${version ? `v${version}` : ''} under quota now`);
        this.used.set(ip.address, (this.used.get(ip.address) || 0) + count);
        return { action: 'bind', address: ip.address, ip };
    }

    /** Sends counted locally since the last new answer (for logs and tests). */
    usedBy(address) {
        return this.used.get(address) || 0;
    }

    _noIp(poolName, reason) {
        if (this.noIp === 'default') return { action: 'default', reason };
        return { action: 'defer', reason, response: `451 4.4.5 mailmon: ${reason}; try again later` };
    }

    _failed(message) {
        this.stats.failed += 1;
        this.log.warn(`pools: ${message}${this.answer ? ' (keeping the last good answer)' : ''}`);
        return 'failed';
    }

    _adopt(body, etag) {
        this.answer = body;
        this.etag = etag;
        this.fetchedAt = Date.now();
        this.used = new Map(); // the portal's remaining counts the sends made until now
        this.stats.changed += 1;
    }

    _load() {
        if (!this.stateFile) return;
        let saved;
        try {
            saved = JSON.parse(fs.readFileSync(this.stateFile, 'utf8'));
        } catch (err) {
            if (err.code !== 'ENOENT') this.log.warn(`pools: ignoring unreadable ${this.stateFile}: ${err.message}`);
            return;
        }
        if (!validAnswer(saved && saved.answer)) {
            this.log.warn(`pools: ignoring ${this.stateFile}: not a saved pools answer`);
            return;
        }
        this.answer = saved.answer;
        this.etag = saved.etag || null;
        this.fetchedAt = saved.fetched_at || null;
    }

    /** Atomic (temporary file, fsync, rename): several MTA processes may share the file. */
    _save() {
        if (!this.stateFile) return;
        const data = JSON.stringify({ etag: this.etag, fetched_at: this.fetchedAt, answer: this.answer });
        const tmp = `${this.stateFile}.${process.pid}.tmp`;
        try {
            fs.mkdirSync(path.dirname(this.stateFile), { recursive: true, mode: 0o700 });
            const fd = fs.openSync(tmp, 'w', 0o600);
            try {
                fs.writeSync(fd, data);
                fs.fsyncSync(fd);
            } finally {
                fs.closeSync(fd);
            }
            fs.renameSync(tmp, this.stateFile);
        } catch (err) {
            this.log.warn(`pools: cannot save ${this.stateFile}: ${err.message}`);
        }
    }
}

module.exports = { PoolClient, pickWeighted, available, senderPool, validAnswer, ipVersion, POOLS_PATH, NO_IP_ACTIONS };
