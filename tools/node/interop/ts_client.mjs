// Interop: the official TypeScript SDK client drives `trellis serve` over stdio or Streamable
// HTTP. Usage: node ts_client.mjs stdio|http /path/to/trellis
// Lists and calls tools, reads resources, gets prompts, receives progress and log notifications,
// and cancels a running tool. Exits non-zero with a message on the first failed expectation.
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const [mode, trellis] = process.argv.slice(2);
if (!['stdio', 'http'].includes(mode) || !trellis) {
  console.error('usage: node ts_client.mjs stdio|http /path/to/trellis');
  process.exit(2);
}

function expect(condition, what) {
  if (!condition) throw new Error(`expectation failed: ${what}`);
  console.log(`ok - ${what}`);
}

// Starts `trellis serve --http 127.0.0.1:0` and resolves with its URL (printed on stderr).
function startHttpServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(trellis, ['serve', '--http', '127.0.0.1:0'], { stdio: ['ignore', 'inherit', 'pipe'] });
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${seen}`)), 10000);
    child.stderr.on('data', (chunk) => {
      seen += chunk.toString();
      const match = seen.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  });
}

let server = null;
let transport;
if (mode === 'stdio') {
  transport = new StdioClientTransport({ command: trellis, args: ['serve', '--stdio'], stderr: 'inherit' });
} else {
  server = await startHttpServer();
  transport = new StreamableHTTPClientTransport(new URL(server.url));
}

const client = new Client({ name: 'trellis-interop', version: '1.0.0' });
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));

try {
  await client.connect(transport);
  expect(client.getServerVersion()?.name === 'trellis-demo', 'initialize returns serverInfo');

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  expect(['add', 'echo', 'slow'].every((n) => names.includes(n)), `tools/list names echo, add, slow (${names})`);

  const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hello from TypeScript' } });
  expect(echoed.content[0].text === 'hello from TypeScript', 'tools/call echo');

  const added = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
  expect(added.structuredContent?.sum === 42, 'tools/call add returns structuredContent validated by the SDK');

  const invalid = await client.callTool({ name: 'echo', arguments: { text: 7 } });
  expect(invalid.isError === true, 'invalid arguments come back as isError');

  const { resources } = await client.listResources();
  expect(resources.some((r) => r.uri === 'trellis://demo/readme'), 'resources/list');
  const readme = await client.readResource({ uri: 'trellis://demo/readme' });
  expect(readme.contents[0].text.includes('Trellis'), 'resources/read static');
  const greeting = await client.readResource({ uri: 'trellis://demo/greeting/Ada' });
  expect(greeting.contents[0].text === 'Hello, Ada!', 'resources/read through a template');

  const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Grace' } });
  expect(prompt.messages[0].content.text.includes('Grace'), 'prompts/get');

  const completion = await client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'A' } });
  expect(completion.completion.values.join(',') === 'Ada,Alan', 'completion/complete');

  await client.setLoggingLevel('debug');
  const progress = [];
  const slow = await client.callTool({ name: 'slow', arguments: { steps: 3, delay_ms: 20 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  expect(slow.content[0].text === 'done after 3 steps', 'slow tool completes');
  // The SDK dispatches notifications in a microtask but settles the call synchronously, so a
  // progress notification arriving in the same read as the response may be dropped client-side.
  expect(progress.length >= 2 && progress.every((p, i) => p === i + 1),
    `progress notifications arrive in order (${progress})`);
  expect(logs.some((l) => String(l.data).includes('slow finished')), 'log notification received');

  const controller = new AbortController();
  const cancelled = client.callTool({ name: 'slow', arguments: { steps: 100, delay_ms: 50 } }, undefined, {
    signal: controller.signal,
    onprogress: () => controller.abort('enough'),
  });
  let aborted = false;
  try {
    await cancelled;
  } catch (e) {
    aborted = true;
  }
  expect(aborted, 'cancelling a running tool rejects the call');
  const after = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
  expect(after.content[0].text === 'still here', 'the session keeps working after a cancel');

  await client.ping();
  expect(true, 'ping');
} finally {
  await client.close();
  if (server) {
    server.child.kill('SIGTERM');
  }
}
console.log(`interop over ${mode}: all checks passed`);
