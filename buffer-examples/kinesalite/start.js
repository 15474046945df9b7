// Starts kinesalite (an in-memory Kinesis) on 127.0.0.1 only, for the batchbuffer Kinesis example
// and KinesisIT. Usage: node start.js [PORT] (0 or nothing: a free port). Prints one line,
// "kinesalite listening on 127.0.0.1:PORT", once it accepts connections; LocalKinesis reads it.
// kinesalite's own CLI binds every interface, hence this script.
'use strict';
const kinesalite = require('kinesalite');

const port = Number(process.argv[2] || 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node start.js [PORT]');
  process.exit(2);
}
// createStreamMs 0: a new stream is ACTIVE at once; shardLimit: room for the tests' streams.
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 50 });
server.on('error', (err) => {
  console.error('kinesalite failed: ' + err.message);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log('kinesalite listening on 127.0.0.1:' + server.address().port);
});
// Stop quietly when the parent closes our stdin or sends a signal.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
