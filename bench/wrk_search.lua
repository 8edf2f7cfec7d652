-- wrk script for the HTTP load: rotates through the request paths in the
-- file given as the first script argument, with the bearer token given as
-- the second, or with the tokens of the file named after an '@' (one per
-- line: the n-th request takes the n-th token, in turn). Each wrk thread
-- starts at a different offset.
--   wrk -t2 -c64 -d20s --latency -s wrk_search.lua http://127.0.0.1:PORT -- PATHS TOKEN|@FILE
local paths = {}
local tokens = {}
local i = 0
local counter = 0

setup = function(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

init = function(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  if args[2]:sub(1, 1) == "@" then
    for line in io.lines(args[2]:sub(2)) do
      tokens[#tokens + 1] = line
    end
  else
    tokens[1] = args[2]
  end
  i = (offset or 0) % #paths
end

request = function()
  i = i % #paths + 1
  local token = tokens[i % #tokens + 1]
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer " .. token })
end

done = function(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"errors_status\": %d, " ..
    "\"errors_connect\": %d, \"errors_read\": %d, \"errors_write\": %d, \"errors_timeout\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"p999_us\": %d, \"max_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
