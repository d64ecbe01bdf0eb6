-- wrk script: POSTs `tools/call echo` to a Streamable HTTP MCP endpoint, as a client in
-- JSON-response mode would, and reports the figures as one JSON line.
--
--   wrk -t2 -c64 -d5s -s bench/http/echo.lua http://127.0.0.1:PORT/mcp [-- SESSIONS_FILE]
--
-- Without a sessions file every request stands alone (stateless servers, nginx). With one (one
-- Mcp-Session-Id per line, initialized beforehand by bench/run.mjs) each request carries the
-- next session id, so the server does its full per-session work. Responses that are not a
-- JSON-RPC result count as errors: a fast wrong answer must not look like a fast answer.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("next_id", #threads * 1000000000)  -- ids unique across threads
end

-- Every request gets its own id: a session refuses a second request with an id still in flight.
local body = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
local sessions = {}
local next_session = 1
errors = 0

function init(args)
  if args[1] then
    for line in io.lines(args[1]) do
      if #line > 0 then table.insert(sessions, line) end
    end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
end

function request()
  next_id = next_id + 1
  local payload = string.format(body, next_id)
  if #sessions == 0 then
    return wrk.format(nil, nil, nil, payload)
  end
  -- wrk.format replaces wrk.headers with the table it is given: copy them.
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Mcp-Session-Id"] = sessions[next_session]
  next_session = next_session % #sessions + 1
  return wrk.format(nil, nil, headers, payload)
end

function response(status, headers, response_body)
  if status ~= 200 or not string.find(response_body, '"result"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local errs = 0
  for _, thread in ipairs(threads) do
    errs = errs + thread:get("errors")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"req_per_s":%.1f,"p50_us":%d,"p99_us":%d,"errors":%d,"socket_errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50), latency:percentile(99), errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
