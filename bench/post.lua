-- wrk script for the POST /v1/documents benchmark (bench/run.py drives it).
-- Usage: wrk -t1 -cN -dDs --latency -s bench/post.lua URL -- BODY_FILE [API_KEY]
-- Sends the JSON body read from BODY_FILE to /v1/documents on every request and, when
-- the run ends, prints one JSON line "BENCH {...}" with latency percentiles (µs),
-- request counts and errors, which bench/run.py parses.

local body_file, api_key

function init(args)
  body_file = args[1]
  api_key = args[2]
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.path = "/v1/documents"
  wrk.headers["Content-Type"] = "application/json"
  if api_key and api_key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. api_key
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_s": %.3f, "rps": %.1f, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
