'use strict';
/**
 * Sending-IP pool enforcement for ZoneMTA (sender processes): each delivery leaves only from an
 * IP the portal allows now for the message's pool (GET /api/v1/mta/pools via the shared client).
 *
 *   sender:fetch    (delivery)           pick the IPv4 and IPv6 source addresses from the pool and
 *                                        put them where ZoneMTA looks (delivery.zoneAddressIPv4/
 *                                        IPv6/zoneAddress): the connection cache key and mx-connect
 *                                        both use them; no allowed IP -> defer (451) or the zone's own
 *   sender:connect  (delivery, connOpts) last check before the TCP connect: the local address must
 *                                        be allowed for the MX's IP version, else it is replaced
 *
 * The pool of a delivery: `zones[delivery.zone]`, else the sender's entry in `senders`
 * (address, domain, parent domain), else `defaultPool`; none -> ZoneMTA's own routing.
 */
const net = require('node:net');

function poolLoader(dir) {
    const fs = require('node:fs');
    const path = require('node:path');
    const local = path.join(dir, 'mailmon-pools.js');
    return require(fs.existsSync(local) ? local : '../js/mailmon-pools.js');
}

const { PoolClient, senderPool } = poolLoader(__dirname);

/** The pool name for a delivery, from the plugin's `pools` config. */
function deliveryPool(delivery, config) {
    const zones = config.zones || {};
    if (delivery.zone && zones[delivery.zone]) return zones[delivery.zone];
    return senderPool(config.senders, delivery.from, config.defaultPool);
}

/** Where ZoneMTA takes a source address from: {name (HELO), address}. */
function zoneAddress(address, config, fallback) {
    const helo = (config.helo || {})[address];
    return { name: helo || (fallback && fallback.name) || undefined, address };
}

/** An Error ZoneMTA's sender turns into a deferral (4xx response, action "defer"). */
function deferral(decision, delivery) {
    const err = new Error(`${delivery.id}.${delivery.seq || ''} ${decision.reason}`);
    err.response = decision.response;
    err.responseCode = 451;
    err.action = 'defer';
    err.category = 'capacity';
    err.temporary = true;
    return err;
}

/**
 * Choose the source addresses of one delivery (the hook body of `sender:fetch`).  Returns null
 * when the delivery may go, or an Error to defer it with.  One send is counted against the
 * address of the family ZoneMTA will try first (IPv6 only when the zone prefers it).
 */
function routeDelivery(client, delivery, config) {
    const pool = deliveryPool(delivery, config);
    if (!pool) return null;
    const dnsOptions = delivery.dnsOptions || (delivery.dnsOptions = {});
    const v6First = Boolean(dnsOptions.preferIPv6);
    const first = client.choose(pool, { version: v6First ? 6 : 4 });
    const second = dnsOptions.ignoreIPv6 && !v6First ? null : client.choose(pool, { version: v6First ? 4 : 6, count: 0 });
    const v4 = v6First ? second : first;
    const v6 = v6First ? first : second;
    delivery.mailmonPool = pool;
    if (v4 && v4.action === 'bind') {
        delivery.zoneAddressIPv4 = zoneAddress(v4.address, config, delivery.zoneAddressIPv4);
    }
    if (v6 && v6.action === 'bind') {
        delivery.zoneAddressIPv6 = zoneAddress(v6.address, config, delivery.zoneAddressIPv6);
    } else if (v4 && v4.action === 'bind') {
        dnsOptions.ignoreIPv6 = true; // no allowed IPv6 source: only IPv4 MX hosts are tried
    }
    const bound = [v4, v6].find((d) => d && d.action === 'bind');
    if (bound) {
        // Set when ZoneMTA itself uses one address for every MX (ignoreIPv6 zones).
        if (delivery.zoneAddress || dnsOptions.ignoreIPv6) delivery.zoneAddress = delivery.zoneAddressIPv4 || delivery.zoneAddressIPv6;
        delivery.mailmonAllowed = [v4, v6].filter((d) => d && d.action === 'bind').map((d) => d.address);
        return null;
    }
    if (first.action === 'default') return null;
    return deferral(first, delivery);
}

/** `sender:connect`: the address about to be bound must be one the portal allows for this family. */
function checkConnect(client, delivery, connOpts, config) {
    if (!delivery.mailmonPool) return null;
    const version = net.isIPv6(connOpts.host) ? 6 : 4;
    const allowed = delivery.mailmonAllowed || [];
    if (connOpts.localAddress && allowed.includes(connOpts.localAddress) && net.isIP(connOpts.localAddress) === version) return null;
    const decision = client.choose(delivery.mailmonPool, { version, count: 0 });
    if (decision.action === 'bind') {
        connOpts.localAddress = decision.address;
        const helo = (config.helo || {})[decision.address];
        if (helo) connOpts.localHostname = helo;
        delivery.mailmonAllowed = allowed.concat(decision.address);
        return null;
    }
    if (decision.action === 'default') return null;
    return deferral(decision, delivery);
}

/** Start the client and register the hooks; returns the client. */
function startPools(app, options, logger) {
    const config = options.pools;
    const client = new PoolClient({
        url: options.url,
        apiKey: options.apiKey,
        node: config.node === undefined ? options.node : config.node || null,
        intervalMs: config.intervalMs || (config.interval ? config.interval * 1000 : undefined),
        stateFile: config.stateFile || options.poolsStateFile,
        noIp: config.noIp,
        logger,
    });
    client.ready = client.start();
    app.addHook('sender:fetch', (delivery, next) => {
        let err = null;
        try {
            err = routeDelivery(client, delivery, config);
        } catch (error) {
            client.log.error(`pools: could not route ${delivery && delivery.id}: ${error.message}`);
        }
        next(err);
    });
    app.addHook('sender:connect', (delivery, connOpts, next) => {
        let err = null;
        try {
            err = checkConnect(client, delivery, connOpts, config);
        } catch (error) {
            client.log.error(`pools: could not check ${delivery && delivery.id}: ${error.message}`);
        }
        next(err);
    });
    return client;
}

module.exports = { startPools, routeDelivery, checkConnect, deliveryPool };
