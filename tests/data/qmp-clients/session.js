// SPDX-License-Identifier: MIT
// A QMP session through the npm package qemu-qmp, as its README drives one:
// connect (it reads the greeting and sends qmp_capabilities), query-status,
// cont, stop, an unknown command, quit; events as the package emits them.
// Prints one line per step; tests/integration/test_monitor_clients.py
// compares the lines from rrvm with those from qemu-system-riscv64.
// Usage: node session.js SOCKET-PATH | node session.js PORT HOST
'use strict';

const QMP = require('qemu-qmp');

const log = (...words) => console.log(words.join(' '));
const show = (err, ret) =>
    err ? 'error ' + err.message : JSON.stringify(ret);

const watchdog = setTimeout(() => {
    log('timeout');
    process.exit(2);
}, 15000);

const qmp = new QMP();
for (const ev of ['stop', 'resume', 'shutdown', 'reset', 'powerdown']) {
    qmp.on(ev, (name) => {
        // Node's streams emit 'resume' too, with no argument.
        if (name !== undefined) {
            log('event', name);
        }
    });
}
qmp.on('close', () => {
    log('closed');
    clearTimeout(watchdog);
});

const steps = [
    ['query-status'],
    ['cont'],
    ['query-status'],
    ['stop'],
    ['stop'],
    ['query-status'],
    ['no-such-command'],
    ['human-monitor-command', {'command-line': 'info status'}],
    ['query-name'],
    ['quit'],
];

function next(i) {
    if (i >= steps.length) {
        return;
    }
    const [cmd, args] = steps[i];
    const done = (err, ret) => {
        log(cmd, show(err, ret));
        next(i + 1);
    };
    if (args) {
        qmp.execute(cmd, args, done);
    } else {
        qmp.execute(cmd, done);
    }
}

const where = process.argv[2];
const port = Number(where);
const target = Number.isInteger(port) ? port : where;
const connected = (err) => {
    if (err) {
        log('connect error', err.message);
        process.exit(1);
    }
    log('greeting', JSON.stringify(qmp.version),
        JSON.stringify(qmp.capabilities));
    next(0);
};
if (typeof target === 'number') {
    qmp.connect(target, process.argv[3] || '127.0.0.1', connected);
} else {
    qmp.connect(target, connected);
}
