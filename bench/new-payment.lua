-- Every request pays a new invoice id, so the benchmark measures the path that records a payment,
-- not the idempotent replay. Each wrk thread gets its own prefix so ids never collide.
local counter = 0
local prefix = "T"

function setup(thread)
  thread:set("prefix", "T" .. tostring(math.random(1, 1000000000)) .. "-")
end

function init(args)
  prefix = wrk.thread:get("prefix") or prefix
end

function request()
  counter = counter + 1
  local body = '{"id":"' .. prefix .. counter .. '","value":12.15,"currency":"EUR"}'
  return wrk.format("POST", "/payments/pay", {["Content-Type"] = "application/json"}, body)
end
