'use strict';
/**
 * Sending-IP pool enforcement for Haraka's outbound: the `get_mx` hook answers the MX list itself,
 * each entry bound (`bind`, `bind_helo`) to an IP the portal allows now for the sender's pool.
 * Haraka 3.x connects from `mx.bind` (outbound/client_pool.js) and greets with `mx.bind_helo`.
 *
 * The MX list comes from DNS (Node's resolver, or the `dns_servers` of mailmon.ini), the
 * implicit MX (A/AAAA) when a domain has none, or a fixed `route = host:port` (a smarthost);
 * each MX host is resolved to its addresses here so that every entry gets a source address of
 * its own IP version.  No allowed IP: DENYSOFT (the message is deferred and retried) or, with
 * `no_ip = default`, Haraka's own routing.  Senders of no pool are left to the other plugins.
 */
const dns = require('node:dns');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

// Installed as one folder (the shared clients copied next to this file) or run from the repository.
const shared = (name) => (fs.existsSync(path.join(__dirname, name)) ? path.join(__dirname, name) : `../js/${name}`);
const { PoolClient, senderPool } = require(shared('mailmon-pools.js'));
const { address } = require(shared('mailmon-ingest.js'));

// Haraka's return codes: globals inside Haraka (haraka-constants), the same numbers outside it.
const CODES = { DENY: 902, DENYSOFT: 903, OK: 906 };
const code = (name) => (typeof global[name] === 'number' ? global[name] : CODES[name]);

/** [host, port] of "host:port", "[v6]:port" or a bare host. */
function splitHostPort(text, defaultPort) {
    const value = String(text).trim();
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
    if (bracketed) return [bracketed[1], Number(bracketed[2] || defaultPort)];
    if (net.isIPv6(value)) return [value, defaultPort];
    const [host, port] = value.split(':');
    return [host, Number(port || defaultPort)];
}

/** The [pools] settings of mailmon.ini (with [senders] and [helo]), checked. */
function poolSettings(cfg) {
    const p = cfg.pools || {};
    const interval = Number(p.interval || 10);
    if (!(interval >= 1)) throw new Error(`mailmon.ini [pools] interval: expected seconds >= 1, got ${p.interval}`);
    return {
        enabled: ['true', '1', 'yes', 'on'].includes(String(p.enabled || '').toLowerCase()),
        intervalMs: interval * 1000,
        noIp: p.no_ip || 'defer',
        defaultPool: p.default_pool || null,
        route: p.route ? splitHostPort(p.route, 25) : null,
        dnsServers: p.dns_servers ? String(p.dns_servers).split(',').map((s) => s.trim()).filter(Boolean) : null,
        stateFile: p.state_file || null,
        node: p.node === undefined ? undefined : p.node || null,
        senders: cfg.senders || {},
        helo: cfg.helo || {},
    };
}

/** Resolves the MX hosts of a domain (or the route) to [{exchange: ip, priority, port, from_dns}]. */
async function mxAddresses(domain, settings, resolver) {
    if (settings.route) {
        const [host, port] = settings.route;
        const ips = net.isIP(host) ? [host] : await hostAddresses(host, resolver);
        return ips.map((ip) => ({ exchange: ip, priority: 0, port }));
    }
    let exchanges;
    try {
        exchanges = await resolver.resolveMx(domain);
    } catch (err) {
        if (err.code === 'ENOTFOUND') throw Object.assign(new Error(`No Such Domain: ${domain}`), { code: 'ENOTFOUND' });
        if (err.code !== 'ENODATA') throw err; // SERVFAIL, timeouts: the caller defers
        exchanges = []; // no MX record: the implicit MX below
    }
    if (exchanges.length === 1 && exchanges[0].exchange === '') return [{ exchange: '', priority: 0 }]; // RFC 7505 null MX
    if (!exchanges.length) exchanges = [{ exchange: domain, priority: 0 }]; // implicit MX
    exchanges.sort((a, b) => a.priority - b.priority);
    const result = [];
    for (const mx of exchanges) {
        const ips = net.isIP(mx.exchange) ? [mx.exchange] : await hostAddresses(mx.exchange, resolver);
        for (const ip of ips) result.push({ exchange: ip, priority: mx.priority, port: 25, from_dns: mx.exchange });
    }
    return result;
}

async function hostAddresses(host, resolver) {
    const answers = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    return answers.filter((a) => a.status === 'fulfilled').flatMap((a) => a.value);
}

/**
 * Bind each MX entry to an allowed source of its IP version: {mxs} when at least one can go,
 * else {decision} (defer or default) of the pool.  `count` sends are counted against the IPv4
 * choice, or the IPv6 one when only IPv6 MX hosts are left.
 */
function bindMx(client, pool, mxs, { count, helo, me }) {
    const wants6 = mxs.some((mx) => net.isIPv6(mx.exchange));
    const wants4 = mxs.some((mx) => !net.isIPv6(mx.exchange));
    const v4 = wants4 ? client.choose(pool, { version: 4, count }) : null;
    const v6 = wants6 ? client.choose(pool, { version: 6, count: v4 && v4.action === 'bind' ? 0 : count }) : null;
    const source = (ip) => (net.isIPv6(ip) ? v6 : v4);
    const bound = mxs.filter((mx) => source(mx.exchange) && source(mx.exchange).action === 'bind').map((mx) => {
        const address = source(mx.exchange).address;
        return { ...mx, bind: address, bind_helo: helo[address] || me };
    });
    if (bound.length) return { mxs: bound };
    return { decision: [v4, v6].find(Boolean) || client.choose(pool, { count: 0 }) };
}

/** Methods mixed into the Haraka plugin (index.js). */
const methods = {
    mailmon_setup_pools(settings) {
        const pools = poolSettings(this.cfg);
        if (!pools.enabled) return;
        this.mailmon_pools_settings = pools;
        this.mailmon_resolver = new dns.promises.Resolver();
        if (pools.dnsServers) this.mailmon_resolver.setServers(pools.dnsServers);
        this.mailmon_pools = new PoolClient({
            url: settings.url,
            apiKey: settings.apiKey,
            node: pools.node === undefined ? settings.node : pools.node,
            intervalMs: pools.intervalMs,
            noIp: pools.noIp,
            stateFile: pools.stateFile || path.join(settings.base, 'haraka-pools.json'),
            logger: { info: (m) => this.loginfo(m), warn: (m) => this.logwarn(m), error: (m) => this.logerror(m) },
        });
        this.mailmon_pools.start();
        this.register_hook('get_mx', 'mailmon_get_mx');
    },

    async mailmon_get_mx(next, hmail, domain) {
        try {
            return await this.mailmon_route(next, hmail, domain);
        } catch (err) {
            // Never leave a queued message hanging: defer it and say why.
            this.logerror(`pools: could not route mail to ${domain}: ${err.stack || err.message}`);
            return next(code('DENYSOFT'), `mailmon: routing error: ${err.message}`);
        }
    },

    async mailmon_route(next, hmail, domain) {
        const pools = this.mailmon_pools_settings;
        const todo = hmail.todo || {};
        const pool = senderPool(pools.senders, address(todo.mail_from), pools.defaultPool);
        if (!pool) return next();
        let mxs;
        try {
            mxs = await mxAddresses(domain, pools, this.mailmon_resolver);
        } catch (err) {
            if (err.code === 'ENOTFOUND') return next(code('DENY'), err.message);
            return next(code('DENYSOFT'), `DNS lookup failure for ${domain}: ${err.message}`);
        }
        if (mxs.length === 1 && mxs[0].exchange === '') return next(code('OK'), mxs[0]); // null MX: Haraka bounces
        if (!mxs.length) return next(code('DENYSOFT'), `no address for the MX hosts of ${domain}`);
        const me = (this.config.get('me') || '').trim() || undefined;
        const count = (todo.rcpt_to || []).length || 1;
        const result = bindMx(this.mailmon_pools, pool, mxs, { count, helo: pools.helo, me });
        if (result.mxs) {
            this.logdebug(`pool ${pool}: ${domain} from ${[...new Set(result.mxs.map((m) => m.bind))].join(', ')}`);
            return next(code('OK'), result.mxs);
        }
        if (result.decision.action === 'default') return next();
        this.logwarn(`pool ${pool}: deferring mail to ${domain}: ${result.decision.reason}`);
        return next(code('DENYSOFT'), result.decision.reason);
    },
};

module.exports = { methods, poolSettings, bindMx, mxAddresses, splitHostPort };
