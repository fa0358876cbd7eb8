-- user-journey.lua: a shopper's visit to the demo shop, step by step.
--
-- setup() logs in once as admin and hands the token to every VU. Each iteration
-- then browses the catalogue and orders one product. Groups ("browse", "order")
-- split the summary by step, checks verify statuses and JSON fields, and a custom
-- trend records how long orders take.
--
--   salvo serve &
--   salvo run examples/user-journey.lua -e BASE=http://127.0.0.1:8080

local http = require("salvo.http")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

options = {
    vus = 5,
    duration = "10s",
}

-- Custom metrics are declared at the top level (the init stage). true: the values
-- are times in milliseconds, shown like http_req_duration.
local order_latency = metrics.Trend("order_latency", true)

-- Runs once before the load; what it returns is every VU's `data`.
function setup()
    local res = http.post(BASE .. "/auth/login", nil, {
        json = { username = "admin", password = "admin" },
    })
    if res.status ~= 200 then
        salvo.fail("login as admin failed with status " .. res.status .. ": " .. res.body)
    end
    return { token = res:json("token") }
end

function default(data)
    local product

    salvo.group("browse", function()
        local list = http.get(BASE .. "/products")
        salvo.check(list, {
            ["catalogue is 200"] = function(r) return r.status == 200 end,
            ["catalogue lists products"] = function(r) return #r:json() > 0 end,
        })
        local products = list:json()
        local pick = products[math.random(#products)]

        -- Every product has its own URL; the name tag groups them into one series
        -- instead of one per id.
        local res = http.get(BASE .. "/products/" .. pick.id, {
            tags = { name = BASE .. "/products/{id}" },
        })
        salvo.check(res, {
            ["product is 200"] = function(r) return r.status == 200 end,
            ["product is the one asked for"] = function(r) return r:json("id") == pick.id end,
            ["product has a price"] = function(r) return type(r:json("price")) == "number" end,
        })
        product = res:json()
    end)

    salvo.sleep(0.2) -- the shopper reads the page

    salvo.group("order", function()
        local quantity = math.random(3)
        local res = http.post(BASE .. "/orders", nil, {
            json = { product = product.id, quantity = quantity },
            headers = { Authorization = "Bearer " .. data.token },
        })
        order_latency:add(res.timings.duration)
        salvo.check(res, {
            ["order is 201"] = function(r) return r.status == 201 end,
            ["order is for the product"] = function(r) return r:json("product") == product.id end,
            ["order total is right"] = function(r)
                return math.abs(r:json("total") - product.price * quantity) < 0.005
            end,
        })
    end)

    salvo.sleep(0.2)
end
