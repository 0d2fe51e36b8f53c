-- wrk script for the webhook benchmark: posts one kind of Mobivate notification per wrk process.
--
--   wrk -t1 -c26 -d22s -s bench/webhooks.lua http://127.0.0.1:PORT/webhooks/SECRET/receipt \
--       -- receipt PREFIX REDELIVERY_FRACTION SEND_UNTIL_EPOCH
--
-- Every request carries a fresh event (unique ids, statuses and timestamps), except a fraction
-- REDELIVERY_FRACTION that repeats a recent body byte for byte, as Mobivate does when it retries.
-- PREFIX (8 hex digits) keeps the ids of different runs and processes apart. At SEND_UNTIL_EPOCH
-- (Unix time, fractional) every connection stops sending, so all requests already sent are
-- answered before wrk stops: the acknowledged counts can then be compared with the database.
-- done() prints one line "BENCH_RESULT {json}" with the counts, the send window and the latency
-- quantiles (microseconds), which bench/run.py merges across processes.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
kind, prefix, redelivery, send_until = "receipt", "00000000", 0.0, 0
sent, fresh, redelivered, stored, duplicate, ok, non2xx, other = 0, 0, 0, 0, 0, 0, 0, 0
first_sent, last_answer = 0, 0
local counter = 0
local recent, recent_size, recent_next = {}, 64, 1
local statuses = { [0] = { "ACCEPTED", 2 }, [1] = { "DELIVERED", 1 } }
local texts = { "Yes please", "What time is my appointment?", "STOP", "Thanks!", "HELP" }
local browsers = { { "Safari", "iOS" }, { "Chrome", "Android" }, { "Firefox", "Windows" } }
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  kind = args[1] or kind
  prefix = args[2] or prefix
  redelivery = tonumber(args[3] or "0")
  send_until = tonumber(args[4] or "0")
  prefix = prefix .. string.format("%02X", thread_index % 256)
  math.randomseed(tonumber(prefix, 16) % 2147483647)
end

local function hex_id(n)
  return prefix .. string.format("%022X", n)
end

local function iso(seconds, millis, colon)
  local stamp = os.date("!%Y-%m-%dT%H:%M:%S", 1715680000 + seconds)
  if colon then
    return stamp .. string.format(".%03d+00:00", millis)
  end
  return stamp .. "+0000"
end

local function receipt(n)
  -- Two receipts per message: ACCEPTED, then DELIVERED a second later.
  local message = math.floor(n / 2)
  local status = statuses[n % 2]
  return string.format(
    '{"deliveryMessageId":"%s","batchId":"%s","clientReference":%s,"created":"%s",'
      .. '"status":"%s","statusCode":%d,"parts":1,"hlr":null}',
    hex_id(message), hex_id(math.floor(message / 100000)),
    (message % 4 == 0) and string.format('"cust-%d"', message) or "null",
    iso(message + n % 2, message % 1000, true), status[1], status[2])
end

local function incoming(n)
  return string.format(
    '{"id":"%s","originator":"4477009%05d","recipient":"61400","body":"%s","created":"%s",'
      .. '"inReplyTo":"%s","logicalMessageId":"%s","ownerUserId":"94B8CC070A000A9D2FBD467124131CA6"}',
    hex_id(n), n % 100000, texts[n % #texts + 1], iso(n, 0, false),
    hex_id(n + 7), hex_id(math.floor(n / 100000)))
end

local function click(n)
  local agent = browsers[n % #browsers + 1]
  return string.format(
    '{"mobile":"4477009%05d","messageId":"%s","batchId":"%s","clientRef":"ref-%d",'
      .. '"browser":"%s","country":"United Kingdom","ipAddress":"203.0.113.%d","iso2l":"UK",'
      .. '"os":"%s","url":"https://example.com/offer/%d?utm_source=sms"}',
    n % 100000, hex_id(n), hex_id(math.floor(n / 100000)), n, agent[1], n % 250 + 1, agent[2], n)
end

local builders = { receipt = receipt, incoming = incoming, click = click }

function delay()
  if send_until > 0 and now() >= send_until then
    return 3600000
  end
  return 0
end

function request()
  local body
  if counter > recent_size and math.random() < redelivery then
    body = recent[math.random(recent_size)]
    redelivered = redelivered + 1
  else
    counter = counter + 1
    body = builders[kind](counter)
    recent[recent_next] = body
    recent_next = recent_next % recent_size + 1
    fresh = fresh + 1
  end
  if sent == 0 then
    first_sent = now()
  end
  sent = sent + 1
  return wrk.format("POST", nil, headers, body)
end

function response(status, _, body)
  last_answer = now()
  if status >= 200 and status < 300 then
    ok = ok + 1
    if string.find(body, '"stored"', 1, true) then
      stored = stored + 1
    elseif string.find(body, '"duplicate"', 1, true) then
      duplicate = duplicate + 1
    else
      other = other + 1
    end
  else
    non2xx = non2xx + 1
  end
end

function done(summary, latency, _)
  local totals = {
    sent = 0, fresh = 0, redelivered = 0, stored = 0, duplicate = 0, ok = 0, non2xx = 0,
    other = 0,
  }
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    if thread:get("thread_index") == 0 then
      -- wrk calls request() once on its first thread to check the script, and never sends it.
      totals.sent, totals.fresh = totals.sent - 1, totals.fresh - 1
    end
    local started = thread:get("first_sent")
    if started > 0 and started < first then
      first = started
    end
    last = math.max(last, thread:get("last_answer"))
  end
  local parts = {}
  for name, value in pairs(totals) do
    table.insert(parts, string.format('"%s":%d', name, value))
  end
  local errors = summary.errors
  table.insert(parts, string.format(
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
  table.insert(parts, string.format('"completed":%d', summary.requests))
  table.insert(parts, string.format('"first_sent":%.6f,"last_answer":%.6f',
    first == math.huge and 0 or first, last))
  -- This wrk cannot index the latency histogram, so hand over its quantiles instead: 2,000
  -- evenly spaced ones, each standing for the same share of this process's requests.
  local quantiles = {}
  if summary.requests > 0 then
    for step = 1, 2000 do
      table.insert(quantiles, string.format("%d", latency:percentile((step - 0.5) / 20)))
    end
  end
  table.insert(parts, '"latency_quantiles_us":[' .. table.concat(quantiles, ",") .. "]")
  io.write("BENCH_RESULT {" .. table.concat(parts, ",") .. "}\n")
end
