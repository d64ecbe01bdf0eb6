// The TypeScript twin of bench/drivers/client_bench.cpp: the official SDK client under load.
//
//   node ts_client_bench.mjs [--warmup N] [--seq N] [--inflight C --count N] (--url URL | --stdio -- CMD ARGS...)
//
// --seq: N sequential `tools/call echo`: p50, p99, mean in µs. --inflight: N calls in total with
// C promises outstanding at all times: calls per second. Prints one JSON object; failed calls are
// counted, never hidden.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const o = { warmup: 200, seq: 0, inflight: 0, count: 0, url: null, command: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  const a = argv[i];
  if (['--warmup', '--seq', '--inflight', '--count'].includes(a)) o[a.slice(2)] = Number(argv[++i]);
  else if (a === '--url') o.url = argv[++i];
  else if (a === '--stdio') {
    o.command = argv.slice(argv[i + 1] === '--' ? i + 2 : i + 1);
    break;
  } else {
    console.error('usage: ts_client_bench.mjs [--warmup N] [--seq N] [--inflight C --count N] (--url URL | --stdio -- CMD ARGS...)');
    process.exit(2);
  }
}
if (!o.url === !o.command) {
  console.error('ts_client_bench: give exactly one of --url and --stdio');
  process.exit(2);
}

const transport = o.url
  ? new StreamableHTTPClientTransport(new URL(o.url))
  : new StdioClientTransport({ command: o.command[0], args: o.command.slice(1), stderr: 'ignore' });
const client = new Client({ name: 'ts_client_bench', version: '1' });
await client.connect(transport);
const echo = () => client.callTool({ name: 'echo', arguments: { text: 'hello' } });

for (let i = 0; i < o.warmup; ++i) await echo();
const out = {};
if (o.seq > 0) {
  const samples = [];
  let errors = 0;
  for (let i = 0; i < o.seq; ++i) {
    const t0 = process.hrtime.bigint();
    try {
      const r = await echo();
      if (r.isError) ++errors;
    } catch {
      ++errors;
    }
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  out.seq = { count: o.seq, p50_us: samples[samples.length >> 1], p99_us: samples[Math.floor(samples.length * 0.99)], mean_us: mean, errors };
}
if (o.inflight > 0 && o.count > 0) {
  let started = 0, errors = 0;
  const t0 = process.hrtime.bigint();
  const lane = async () => {
    while (started < o.count) {
      ++started;
      try {
        const r = await echo();
        if (r.isError) ++errors;
      } catch {
        ++errors;
      }
    }
  };
  await Promise.all(Array.from({ length: o.inflight }, lane));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  out.inflight = { count: o.count, concurrency: o.inflight, seconds, calls_per_s: o.count / seconds, errors };
}
console.log(JSON.stringify(out));
await client.close();
process.exit(0);
