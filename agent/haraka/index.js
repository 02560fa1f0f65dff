'use strict';
/**
 * mailmon plugin for Haraka: outbound `delivered`, `deferred` and `bounce` become mailmon events,
 * batched to the ingest API with a small on-disk buffer while the portal is away.
 *
 * With [pools] enabled it also binds outbound connections to an IP the portal allows for the
 * sender's pool (pools.js).
 *
 * A folder plugin (package.json), so Haraka loads it with Node's own require; Node's standard
 * library only.  Install and configure: docs/integrations.md.
 */
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');

const local = path.join(__dirname, 'mailmon-ingest.js');
const { IngestClient, address, smtpCodes, compact, processBufferDir } = require(fs.existsSync(local) ? local : '../js/mailmon-ingest.js');
const pools = require('./pools.js');

Object.assign(exports, pools.methods);

/** Each feature is set up by its own method: events, and sending-IP pools when [pools] enables them. */
exports.register = function () {
    this.load_mailmon_ini();
    this.mailmon_setup_events();
    this.mailmon_setup_pools(this.mailmon_settings());
};

exports.mailmon_settings = function () {
    const main = this.cfg.main;
    const env = process.env;
    const keyFile = main.api_key_file || env.MAILMON_API_KEY_FILE;
    return {
        url: main.url || env.MAILMON_URL,
        apiKey: main.api_key || env.MAILMON_API_KEY || (keyFile && fs.readFileSync(keyFile, 'utf8').trim()),
        node: main.node || env.MAILMON_HOSTNAME || os.hostname(),
        base: main.buffer_dir || env.MAILMON_SPOOL || '/var/lib/mailmon-agent',
    };
};

exports.mailmon_setup_events = function () {
    const settings = this.mailmon_settings();
    this.node = settings.node;
    this.mailmon = new IngestClient({
        url: settings.url,
        apiKey: settings.apiKey,
        bufferDir: processBufferDir(settings.base, 'haraka'),
        batchSize: Number(this.cfg.main.batch_size) || undefined,
        flushMs: Number(this.cfg.main.flush_ms) || undefined,
        logger: { info: (m) => this.loginfo(m), warn: (m) => this.logwarn(m), error: (m) => this.logerror(m) },
    });
};

exports.load_mailmon_ini = function () {
    this.cfg = this.config.get('mailmon.ini', { booleans: ['-pools.enabled'] }, () => this.load_mailmon_ini());
    this.cfg.main = this.cfg.main || {};
};

/** Remember the Message-ID and size: transaction notes travel with the queue file. */
exports.hook_queue_outbound = function (next, connection) {
    const txn = connection && connection.transaction;
    if (txn) {
        const messageId = txn.header && txn.header.get('Message-ID');
        txn.notes.mailmon = { message_id: (messageId || '').trim() || undefined, size: txn.data_bytes };
    }
    next();
};

/** params: [host, ip, response, delay, port, mode, ok_recips, secured, authenticated] */
exports.hook_delivered = function (next, hmail, params) {
    const [host, ip, response, delay, , , okRecips] = params || [];
    for (const rcpt of okRecips || hmail.todo.rcpt_to) {
        this.mailmon_push(hmail, 'delivered', rcpt, {
            mx: host,
            mx_host_ip: ip,
            response: response ? String(response) : undefined,
            delay_ms: Number.isFinite(delay) ? Math.round(delay * 1000) : undefined,
            ...smtpCodes(response),
        });
    }
    next();
};

/** info: { delay, err, fail_recips?, mx? } */
exports.hook_deferred = function (next, hmail, info) {
    const recips = (info && info.fail_recips) || hmail.todo.rcpt_to;
    for (const rcpt of recips) {
        this.mailmon_push(hmail, 'deferred', rcpt, outcome(rcpt, info && info.err, info && info.mx));
    }
    next();
};

/** err: Error with mx, bounced_rcpt, deferred_rcpt when Haraka knows them. */
exports.hook_bounce = function (next, hmail, err) {
    const recips = (err && (err.bounced_rcpt || err.deferred_rcpt)) || hmail.todo.rcpt_to;
    for (const rcpt of recips) {
        this.mailmon_push(hmail, 'bounced', rcpt, outcome(rcpt, err && err.message, err && err.mx));
    }
    next();
};

exports.shutdown = function () {
    if (this.mailmon) this.mailmon.close();
    if (this.mailmon_pools) this.mailmon_pools.stop();
};

/** One event; its id is stable for the queue item, recipient, outcome and attempt. */
exports.mailmon_push = function (hmail, type, rcpt, fields) {
    const todo = hmail.todo || {};
    const notes = (todo.notes && todo.notes.mailmon) || {};
    const to = address(rcpt);
    const attempt = type === 'delivered' ? '' : `:${hmail.num_failures || 0}`;
    this.mailmon.push(compact({
        event_id: `${this.node}:${todo.uuid || hmail.filename}:${to}:${type}${attempt}`.slice(0, 128),
        time: new Date().toISOString(),
        type,
        node: this.node,
        to,
        from: address(todo.mail_from),
        message_id: notes.message_id,
        size: notes.size,
        sending_ip: todo.notes && todo.notes.outbound_ip,
        delay_ms: todo.queue_time ? Date.now() - todo.queue_time : undefined,
        queue_id: hmail.filename,
        ...fields,
    }));
};

/** What a recipient's DSN fields (set by Haraka from the remote answer) say about a failure. */
function outcome(rcpt, fallback, mx) {
    const code = rcpt && rcpt.dsn_smtp_code;
    const text = rcpt && rcpt.dsn_smtp_response;
    const status = rcpt && (rcpt.dsn_smtp_extc || rcpt.dsn_status);
    const response = text ? [code, status, text].filter(Boolean).join(' ') : String(fallback || (rcpt && rcpt.reason) || '');
    const codes = smtpCodes(response);
    return {
        response,
        status_code: code ? Number(code) : codes.status_code,
        enhanced_status: /^[245]\.\d{1,3}\.\d{1,3}$/.test(status || '') ? status : codes.enhanced_status,
        mx: (mx && (mx.exchange || mx.from_dns)) || (rcpt && rcpt.dsn_remote_mta),
    };
}
