-- Creates unpaid invoices with fresh ids as fast as invoice-app accepts them.
local counter = 0
local prefix = "B"

function setup(thread)
  thread:set("prefix", "B" .. tostring(math.random(1, 1000000000)) .. "-")
end

function init(args)
  prefix = wrk.thread:get("prefix") or prefix
end

function request()
  counter = counter + 1
  local body = '{"InvoiceId":"' .. prefix .. counter .. '","Value":10.00,"Currency":"EUR"}'
  return wrk.format("POST", "/invoices", {["Content-Type"] = "application/json"}, body)
end
