// The TypeScript peer of the benchmarks: the official SDK's McpServer with the same `echo` and
// `generate` tools as `trellis serve`, so bench/run.mjs compares like with like.
//
//   node ts_echo_server.mjs --stdio        McpServer + StdioServerTransport
//   node ts_echo_server.mjs --http PORT    Streamable HTTP on 127.0.0.1:PORT/mcp, stateless JSON
//                                          responses (PORT 0: any free port; printed on stderr)
//
// Stateless HTTP follows the SDK's own guidance for this version: a stateless transport cannot be
// reused across requests, so every POST gets a fresh server and transport.
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function makeServer() {
  const server = new McpServer({ name: 'ts-echo', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns the text it is given.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('generate', { description: 'Returns a text of exactly `bytes` bytes.', inputSchema: { bytes: z.number().int().min(0) } },
    async ({ bytes }) => ({ content: [{ type: 'text', text: 'x'.repeat(bytes) }] }));
  return server;
}

const [mode, port] = process.argv.slice(2);
if (mode === '--stdio') {
  await makeServer().connect(new StdioServerTransport());
} else if (mode === '--http' && port !== undefined) {
  const http = createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url.startsWith('/mcp')) {
      res.writeHead(405).end();
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'Content-Type': 'application/json' })
        .end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      return;
    }
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  http.keepAliveTimeout = 60_000;
  http.listen(Number(port), '127.0.0.1', () => {
    console.error(`listening on http://127.0.0.1:${http.address().port}/mcp`);
  });
  process.on('SIGTERM', () => http.close(() => process.exit(0)));
} else {
  console.error('usage: node ts_echo_server.mjs --stdio | --http PORT');
  process.exit(2);
}
