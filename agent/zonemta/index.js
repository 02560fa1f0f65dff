'use strict';
/**
 * mailmon plugin for ZoneMTA: every delivery outcome ZoneMTA logs (the `log:entry` hook, in the
 * `main` and `sender` contexts) becomes a mailmon event with the sending IP and zone.
 *
 *   ACCEPTED -> delivered   DEFERRED -> deferred   REJECTED -> bounced   QUEUED -> queued
 *   DROP / NOQUEUE (with recipients) -> rejected; other actions are ignored.
 *
 * With a `pools` section it also routes every delivery through an IP the portal allows
 * (pools.js).  Install and configure: docs/integrations.md.  Node's standard library only.
 */
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');

// Installed as one folder (the shared client copied next to this file) or run from the repository.
const local = path.join(__dirname, 'mailmon-ingest.js');
const { IngestClient, address, smtpCodes, compact, processBufferDir } = require(fs.existsSync(local) ? local : '../js/mailmon-ingest.js');

const { startPools } = require('./pools.js');

const TYPES = { ACCEPTED: 'delivered', DEFERRED: 'deferred', REJECTED: 'bounced', QUEUED: 'queued', DROP: 'rejected', NOQUEUE: 'rejected' };

function recipients(value) {
    return [].concat(value || []).flatMap((v) => String(v).split(',')).map(address).filter(Boolean);
}

/** The mailmon events (zero or more) for one ZoneMTA log entry. */
function eventsFromLogEntry(entry, node, now) {
    const type = TYPES[String(entry.action || '').toUpperCase()];
    if (!type || !entry.id) return [];
    const time = new Date(now === undefined ? Date.now() : now).toISOString();
    const response = entry.response || entry.responseText || entry.description || '';
    const codes = smtpCodes(response);
    const queueId = entry.seq ? `${entry.id}.${entry.seq}` : entry.id;
    return recipients(entry.to).map((to) => compact({
        // Stable across resends: the delivery, the outcome and (for deferrals) the attempt.
        event_id: `${node}:${queueId}:${entry.action}:${entry.defcount || 0}:${to}`.slice(0, 128),
        time,
        type,
        node,
        to,
        from: address(entry.from),
        sending_ip: entry.ip,
        message_id: entry.messageId && entry.messageId !== entry.id ? entry.messageId : undefined,
        mx: entry.mx,
        response: response ? String(response) : undefined,
        status_code: codes.status_code,
        enhanced_status: codes.enhanced_status,
        delay_ms: Number.isFinite(Number(entry.timer)) && entry.timer !== undefined ? Math.round(Number(entry.timer)) : undefined,
        size: Number.isFinite(Number(entry.size)) && entry.size !== undefined ? Number(entry.size) : undefined,
        // Extra fields (ignored by the portal's schema, kept for support): where and why.
        zone: entry.zone,
        mx_host_ip: entry.host,
        category: entry.category,
        defcount: entry.defcount,
        queue_id: queueId,
    }));
}

function settings(config) {
    const c = config || {};
    const env = process.env;
    return {
        url: c.url || env.MAILMON_URL,
        apiKey: c.apiKey || env.MAILMON_API_KEY || (env.MAILMON_API_KEY_FILE && fs.readFileSync(env.MAILMON_API_KEY_FILE, 'utf8').trim()),
        node: c.node || env.MAILMON_HOSTNAME || os.hostname(),
        // One buffer per ZoneMTA process (main and each sender), adopting those of dead processes.
        bufferDir: processBufferDir(c.bufferDir || env.MAILMON_SPOOL || '/var/lib/mailmon-agent', 'zonemta'),
        batchSize: c.batchSize,
        flushMs: c.flushMs,
        maxFiles: c.maxFiles,
        // Sending-IP pool enforcement (pools.js): on when the `pools` section is present.
        pools: c.pools && c.pools.enabled !== false ? c.pools : null,
        poolsStateFile: path.join(c.bufferDir || env.MAILMON_SPOOL || '/var/lib/mailmon-agent', 'zonemta-pools.json'),
    };
}

module.exports.title = 'mailmon';

/**
 * ZoneMTA plugin entry point: `app.config` is this plugin's section of the ZoneMTA config.
 * Each feature is one function given the app and the settings: events, and sending-IP pools
 * when configured.
 */
module.exports.init = function (app, done) {
    try {
        const options = settings(app.config);
        module.exports.client = startEvents(app, options); // exposed for companion modules and tests
        if (options.pools) {
            // Wait for the first answer (at most the poll timeout) so the first deliveries after a
            // start are routed by it, not deferred for want of one.
            const pools = startPools(app, options, zoneLogger(app));
            module.exports.pools = pools;
            return pools.ready.then(() => done(), () => done());
        }
    } catch (err) {
        return done(err);
    }
    done();
};

/** Hook `log:entry`: every delivery outcome becomes events, batched through the ingest client. */
function startEvents(app, options) {
    const client = new IngestClient({ ...options, logger: zoneLogger(app) });
    app.addHook('log:entry', (entry, next) => {
        try {
            for (const event of eventsFromLogEntry(entry, options.node)) client.push(event);
        } catch (err) {
            client.log.error(`could not turn log entry ${entry && entry.id} into events: ${err.message}`);
        }
        next();
    });
    return client;
}

function zoneLogger(app) {
    const logger = app.logger;
    if (!logger) return undefined;
    return {
        info: (msg) => logger.info('mailmon', msg),
        warn: (msg) => logger.warn('mailmon', msg),
        error: (msg) => logger.error('mailmon', msg),
    };
}

module.exports.eventsFromLogEntry = eventsFromLogEntry;
module.exports.settings = settings;
