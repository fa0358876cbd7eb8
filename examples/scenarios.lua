-- scenarios.lua: two kinds of user at once, each with its own load shape.
--
-- "browse" is a closed model: VUs ramp up, hold and ramp down (ramping-vus), and
-- each loops default(). "buy" is an open model: orders arrive at a fixed rate
-- (constant-arrival-rate), whether earlier ones finished or not, and each arrival
-- runs buy(), the function named by `exec`. It starts half a second in
-- (`startTime`). Thresholds judge each scenario on its own through the
-- `scenario` tag every sample carries.
--
--   salvo serve &
--   salvo run examples/scenarios.lua -e BASE=http://127.0.0.1:8080
--
-- --duration, --iterations or --stage replace the scenarios with one of their own
-- that runs default(); --config FILE can replace them with scenarios in JSON.

local http = require("salvo.http")
local salvo = require("salvo")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

options = {
    scenarios = {
        browse = {
            executor = "ramping-vus",
            startVUs = 0,
            stages = {
                { duration = "1s", target = 4 }, -- ramp up to 4 VUs
                { duration = "1s", target = 4 }, -- hold
                { duration = "1s", target = 0 }, -- ramp down
            },
            gracefulRampDown = "1s", -- a VU ramped down may finish its iteration
            tags = { kind = "read" }, -- added to every sample of this scenario
        },
        buy = {
            executor = "constant-arrival-rate",
            exec = "buy",
            rate = 5, -- five orders
            timeUnit = "1s", -- every second
            duration = "2s",
            startTime = "500ms",
            preAllocatedVUs = 2, -- VUs made ready at the start
            maxVUs = 5, -- more are added up to this when all are busy
        },
    },
    thresholds = {
        ["http_req_duration{scenario:browse}"] = { "p(95)<300" },
        ["http_req_duration{scenario:buy}"] = { "p(95)<500" },
        ["http_req_failed{scenario:buy}"] = { "rate<0.01" },
        checks = { "rate>0.99" },
    },
}

-- Runs once before the load; both scenarios get its result as `data`.
function setup()
    local res = http.post(BASE .. "/auth/login", nil, {
        json = { username = "admin", password = "admin" },
    })
    if res.status ~= 200 then
        salvo.fail("login as admin failed with status " .. res.status .. ": " .. res.body)
    end
    return { token = res:json("token") }
end

-- browse: a scenario without `exec` runs default().
function default()
    local list = http.get(BASE .. "/products")
    salvo.check(list, {
        ["catalogue is 200"] = function(r) return r.status == 200 end,
    })
    local products = list:json() or {}
    if #products > 0 then
        local pick = products[math.random(#products)]
        local res = http.get(BASE .. "/products/" .. pick.id, {
            tags = { name = BASE .. "/products/{id}" },
        })
        salvo.check(res, {
            ["product is 200"] = function(r) return r.status == 200 end,
        })
    end
    salvo.sleep(0.3) -- the visitor reads the page
end

-- buy: one order per arrival. No sleep: the arrival rate sets the pace.
function buy(data)
    local res = http.post(BASE .. "/orders", nil, {
        json = { product = math.random(5), quantity = 1 },
        headers = { Authorization = "Bearer " .. data.token },
    })
    salvo.check(res, {
        ["order is 201"] = function(r) return r.status == 201 end,
    })
end
