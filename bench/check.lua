-- wrk script for the consent-check benchmark.
-- Usage: wrk ... -s bench/check.lua http://127.0.0.1:PORT/api/v1/consent/check -- KEY SUBJECTS
-- Each request asks about a random seeded subject (BENCH-0000001 .. BENCH-<SUBJECTS>).
-- done() prints one line the Python driver parses:
--   BENCH-LUA responses=<n> non200=<n> permits=<n>

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

local key
local subjects
responses = 0
non200 = 0
permits = 0

function init(args)
   key = args[1]
   subjects = tonumber(args[2])
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
   local ref = string.format("BENCH-%07d", math.random(1, subjects))
   local body = '{"subject":{"agency_ref":"' .. ref .. '"},"recipient":"victim-care",'
      .. '"purpose":"victim-support-referral",'
      .. '"categories":["contact-details","incident-report"]}'
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= 200 then
      non200 = non200 + 1
   elseif string.find(body, '"decision":"permit","decision_id"', 1, true) then
      permits = permits + 1
   end
end

function done(summary, latency, requests)
   local r, n, p = 0, 0, 0
   for _, t in ipairs(threads) do
      r = r + (t:get("responses") or 0)
      n = n + (t:get("non200") or 0)
      p = p + (t:get("permits") or 0)
   end
   io.write(string.format("BENCH-LUA responses=%d non200=%d permits=%d\n", r, n, p))
end
